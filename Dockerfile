# Multi-stage build of the operator image: a Debian 12 builder with the same
# Release flags as scripts/test, and a minimal runtime with only the shared
# libraries the binary needs. The process runs as a non-root user.
# Without Docker or a registry, scripts/image build makes the same image with
# buildah; e2e.image_dockerfile checks that the two agree (USER, ENTRYPOINT,
# the binary's path, and the runtime packages below = the libraries it loads).
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config libboost1.81-dev libssl-dev libyaml-cpp-dev \
      nlohmann-json3-dev libspdlog-dev libcli11-dev libsimdjson-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY operator operator
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTO_BUILD_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" --target sysdig-token-operator kubectl-sysdigtoken \
    && strip /build/operator/sysdig-token-operator /build/operator/src/plugin/kubectl-sysdigtoken

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libyaml-cpp0.7 libspdlog1.10 libfmt9 libsimdjson14 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/operator/sysdig-token-operator /usr/local/bin/sysdig-token-operator
# The kubectl plugin (kubectl sysdigtoken); README "kubectl plugin" says how to copy it out.
COPY --from=build /build/operator/src/plugin/kubectl-sysdigtoken /usr/local/bin/kubectl-sysdigtoken
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sysdig-token-operator"]
