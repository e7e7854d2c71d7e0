// Wrapper module: builds the etcd server of a pinned release for the local
// test control plane.
module sysdig-token-operator/controlplane/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v3.7.3
