# Leader election on a Lease and the Event recorder: the coordination pieces
# of the runtime. Included from kube/CMakeLists.txt after sto_kube is defined.
target_sources(sto_kube PRIVATE ${CMAKE_CURRENT_LIST_DIR}/leader_election.cpp ${CMAKE_CURRENT_LIST_DIR}/event_recorder.cpp)
