// Wrapper module: builds the helm command of a pinned release for the chart tests.
module sysdig-token-operator/controlplane/helm

go 1.26.0

require helm.sh/helm/v3 v3.22.0
