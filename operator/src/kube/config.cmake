# Kubernetes client configuration: kubeconfig files (merged like kubectl),
# in-cluster service account, and the credentials (token, token file, exec
# plugin) that go with them.
add_library(sto_kube_config STATIC ${CMAKE_CURRENT_LIST_DIR}/config.cpp ${CMAKE_CURRENT_LIST_DIR}/credentials.cpp)
target_link_libraries(sto_kube_config
  PUBLIC sto_common sto_net
  PRIVATE yaml-cpp nlohmann_json::nlohmann_json OpenSSL::Crypto)
