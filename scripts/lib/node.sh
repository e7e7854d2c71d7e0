# A real node for the local control plane (scripts/controlplane up DIR --node),
# sourced by scripts/controlplane: Debian's containerd (own config, root, state
# and socket under DIR/node), a kubelet registered as Node "sto-node", Debian's
# CNI plugins (bridge + host-local + loopback on a private range that only
# exists inside this machine) and one DNAT rule standing in for kube-proxy:
# the `kubernetes` Service's ClusterIP to the API server. One node per
# machine (it owns the bridge, a cgroup subtree and an iptables chain).
#
# Everything it creates outside DIR is listed here, and node_down removes it:
# the bridge NODE_BRIDGE, the nat chain NODE_CHAIN and its two jumps, the
# cgroup NODE_CGROUP in every hierarchy, network namespaces in /run/netns and
# CNI result caches in /var/lib/cni of its pods, symlinks in
# /var/log/containers, and those of NODE_SYSTEM_DIRS that `up` created.
# shellcheck shell=bash

NODE_NAME=sto-node
NODE_BRIDGE=sto-node0
NODE_CIDR=10.244.77.0/24
NODE_IP=10.244.77.1
NODE_CHAIN=STO-NODE
NODE_CGROUP=sto-node
NODE_NETWORK=sto-node
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1
PAUSE_IMAGE=localhost/sto-pause:1  # scripts/image pause
NODE_OWNER=/run/sysdig-token-operator-node.owner
# The controllers pods need: Deployments and ReplicaSets, the default
# ServiceAccount, its token and the kube-root-ca.crt ConfigMap (projected
# token volumes), Service endpoints, the node's not-ready taint, PDBs, and the
# two the API-only control plane runs.
NODE_CONTROLLERS=deployment-controller,replicaset-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,garbage-collector-controller,namespace-controller,endpoints-controller,endpointslice-controller,node-lifecycle-controller,disruption-controller,pod-garbage-collector-controller

# System folders the kubelet, containerd and CNI create by fixed paths: those
# that did not exist before `up` are removed by `down`.
NODE_SYSTEM_DIRS=(/var/lib/kubelet /run/containerd /var/lib/cni /var/log/containers /run/netns /etc/cni)

node_record_system_dirs() { # dir
  local f
  for f in "${NODE_SYSTEM_DIRS[@]}"; do [[ -e "$f" ]] || echo "$f"; done >"$1/node/created-dirs"
}

node_remove_system_dirs() { # dir
  local f
  [[ -f "$1/node/created-dirs" ]] || return 0
  while read -r f; do
    [[ " ${NODE_SYSTEM_DIRS[*]} " == *" $f "* ]] || continue
    # (grep -q in a pipeline would fail the check with SIGPIPE under pipefail.)
    [[ -z "$(findmnt -rn -o TARGET | grep -F "$f" || true)" ]] || continue
    rm -rf "$f"
  done <"$1/node/created-dirs"
}

ctr_node() { timeout "${CTR_TIMEOUT:-30}" ctr --address "$1/node/containerd.sock" -n k8s.io "${@:2}"; }

# node_precheck: root, packages, and no other node on this machine.
node_precheck() {
  [[ $(id -u) -eq 0 ]] || die "--node needs root (containerd, the kubelet, a bridge and iptables)"
  ensure_packages "scripts/controlplane" "${STO_NODE_PACKAGES[@]}"
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    die "a node already runs on this machine (bridge $NODE_BRIDGE exists; control plane: $(cat "$NODE_OWNER" 2>/dev/null || echo unknown)); stop it with scripts/controlplane down THAT_DIR"
  fi
  [[ -e /dev/kmsg ]] || note "no /dev/kmsg: the kubelet's OOM watcher will complain"
}

# The cgroup hierarchies: the v1 controllers (and the v2 one of a hybrid
# setup), or the single v2 hierarchy.
cgroup_hierarchies() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup
  else
    local h
    for h in /sys/fs/cgroup/*/; do [[ -f "$h/cgroup.procs" ]] && echo "${h%/}"; done
  fi
}

node_cgroup_create() {
  local h
  for h in $(cgroup_hierarchies); do
    [[ -f "$h/cgroup.procs" ]] || continue
    mkdir -p "$h/$NODE_CGROUP"
    if [[ -f "$h/cpuset.cpus" && -f "$h/$NODE_CGROUP/cpuset.cpus" ]]; then
      [[ -n "$(cat "$h/$NODE_CGROUP/cpuset.cpus")" ]] || cat "$h/cpuset.cpus" >"$h/$NODE_CGROUP/cpuset.cpus"
      [[ -n "$(cat "$h/$NODE_CGROUP/cpuset.mems")" ]] || cat "$h/cpuset.mems" >"$h/$NODE_CGROUP/cpuset.mems"
    fi
  done
}

# Kills every process left in the node's cgroup and removes the subtree.
node_cgroup_remove() {
  local h i pids
  for h in $(cgroup_hierarchies); do
    [[ -d "$h/$NODE_CGROUP" ]] || continue
    for i in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(find "$h/$NODE_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
      [[ -z "$pids" ]] && break
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.2
    done
    find "$h/$NODE_CGROUP" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

node_network_up() {
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/${NODE_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
}

# The kube-proxy stand-in: pods (on the bridge) and the host (hostNetwork
# pods) reach the `kubernetes` Service's ClusterIP at the API server.
node_dnat_up() { # api_port
  iptables -w 5 -t nat -N "$NODE_CHAIN"
  iptables -w 5 -t nat -A "$NODE_CHAIN" -d "$SERVICE_IP/32" -p tcp --dport 443 \
    -j DNAT --to-destination "$NODE_IP:$1"
  iptables -w 5 -t nat -I PREROUTING -i "$NODE_BRIDGE" -j "$NODE_CHAIN"
  iptables -w 5 -t nat -I OUTPUT -d "$SERVICE_IP/32" -j "$NODE_CHAIN"
}

node_dnat_down() {
  while iptables -w 5 -t nat -D PREROUTING -i "$NODE_BRIDGE" -j "$NODE_CHAIN" 2>/dev/null; do :; done
  while iptables -w 5 -t nat -D OUTPUT -d "$SERVICE_IP/32" -j "$NODE_CHAIN" 2>/dev/null; do :; done
  iptables -w 5 -t nat -F "$NODE_CHAIN" 2>/dev/null || true
  iptables -w 5 -t nat -X "$NODE_CHAIN" 2>/dev/null || true
}

node_write_configs() { # dir kubelet_port healthz_port
  local d=$1 n=$1/node
  mkdir -p "$n/cni/net.d" "$n/cni/ipam" "$n/containerd/root" "$n/containerd/state" "$n/runc" \
    "$n/kubelet" "$n/pod-logs" "$n/volume-plugins" "$n/opt"
  cat >"$n/containerd.toml" <<EOF
# containerd of the test node: nothing system-wide (own root, state, socket).
version = 2
root = "$n/containerd/root"
state = "$n/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$n/containerd.sock"
[ttrpc]
  address = "$n/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$n/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_apparmor = true
    # This machine lacks CAP_SYS_RESOURCE: runc cannot give the sandbox the
    # oom_score_adj the CRI asks for (-998), and every sandbox would fail with
    # "can't get final child's PID from pipe". Negative scores become 0.
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$n/cni/net.d"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "$n/runc"
EOF
  cat >"$n/cni/net.d/10-$NODE_NETWORK.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "$NODE_NETWORK", "plugins": [
  {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$n/cni/ipam",
            "ranges": [[{"subnet": "$NODE_CIDR", "gateway": "$NODE_IP"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
EOF
  # Pods only talk to the API server and the fake on the bridge: no NAT to
  # the outside (ipMasq false), so nothing a pod sends leaves the machine.
  cat >"$n/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machines run cgroup v1, which the kubelet refuses unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CGROUP
containerRuntimeEndpoint: unix://$n/containerd.sock
address: $NODE_IP
port: $2
healthzBindAddress: 127.0.0.1
healthzPort: $3
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $d/pki/ca.crt}
authorization:
  mode: AlwaysAllow
podLogsDir: $n/pod-logs
volumePluginDir: $n/volume-plugins
failSwapOn: false
# A Secret update reaches mounted files at the next pod sync: 5 s here
# instead of the default 60 s, so tests see it in seconds.
syncFrequency: ${STO_NODE_SYNC_FREQUENCY:-5s}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
makeIPTablesUtilChains: false
# Images are imported, never pulled: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
shutdownGracePeriod: 0s
EOF
}

node_wait() { # what timeout_s command...
  local what=$1 t=$2 i
  shift 2
  for ((i = 0; i < t * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

node_fail() { # dir what logfile
  echo "controlplane: $2; last lines of $3:" >&2
  tail -n 30 "$3" >&2 || true
  cmd_down "$1" >/dev/null 2>&1 || true
  exit 1
}

node_start_containerd() { # dir
  local d=$1 n=$1/node
  setsid containerd --config "$n/containerd.toml" </dev/null >"$n/containerd.log" 2>&1 &
  echo $! >"$n/containerd.pid"
  node_wait containerd 30 ctr_node "$d" version || node_fail "$d" "containerd did not start" "$n/containerd.log"
  local archive
  for archive in "$n/images/pause.oci.tar"; do
    ctr_node "$d" images import "$archive" >/dev/null 2>>"$n/containerd.log" ||
      node_fail "$d" "ctr import $archive failed" "$n/containerd.log"
  done
}

node_start_kubelet() { # dir bin
  local d=$1 bin=$2 n=$1/node
  setsid "$bin/kubelet" --config "$n/kubelet.yaml" --kubeconfig "$d/kubeconfig" \
    --root-dir "$n/kubelet" --cert-dir "$n/kubelet/pki" --node-ip "$NODE_IP" \
    --hostname-override "$NODE_NAME" --v=1 </dev/null >"$n/kubelet.log" 2>&1 &
  echo $! >"$n/kubelet.pid"
}

node_ready() { # dir bin
  [[ "$("$2/kubectl" --kubeconfig "$1/kubeconfig" --request-timeout=2s get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}{.spec.taints}' 2>/dev/null)" == True ]]
}
node_pods_possible() { # dir bin: the default ServiceAccount and kube-root-ca.crt exist
  "$2/kubectl" --kubeconfig "$1/kubeconfig" --request-timeout=2s get serviceaccount default -n default &&
    "$2/kubectl" --kubeconfig "$1/kubeconfig" --request-timeout=2s get configmap kube-root-ca.crt -n default
}

# node_up DIR BIN API_PORT: after the API server is ready.
node_up_after_apiserver() {
  local d=$1 bin=$2 api_port=$3 n=$1/node start=$SECONDS
  node_dnat_up "$api_port"
  setsid "$bin/kube-scheduler" --kubeconfig "$d/kubeconfig" --leader-elect=false --secure-port 0 \
    </dev/null >"$n/kube-scheduler.log" 2>&1 &
  echo $! >"$n/kube-scheduler.pid"
  node_start_kubelet "$d" "$bin"
  local i
  for ((i = 0; i < 90 * 5; i++)); do
    node_ready "$d" "$bin" && break
    pid_alive "$n/kubelet.pid" || node_fail "$d" "the kubelet exited" "$n/kubelet.log"
    sleep 0.2
  done
  node_ready "$d" "$bin" || node_fail "$d" "node $NODE_NAME was not Ready (without taints) within 90s" "$n/kubelet.log"
  note "node $NODE_NAME Ready $((SECONDS - start))s after the kubelet started"
  node_wait "default ServiceAccount" 60 node_pods_possible "$d" "$bin" ||
    node_fail "$d" "no default ServiceAccount or kube-root-ca.crt in namespace default within 60s" "$d/kube-controller-manager.log"
}

# Stops everything of the node and removes what it created outside DIR.
node_down() { # dir
  local d=$1 n=$1/node
  [[ -d "$n" ]] || return 0
  # The kubelet takes more than 10 s to act on SIGTERM, and its pods are
  # removed below anyway.
  kill -KILL "$(cat "$n/kubelet.pid" 2>/dev/null)" 2>/dev/null || true
  # The scheduler and the controllers stop while the pods are removed.
  local f
  for f in "$n/kube-scheduler.pid" "$d/kube-controller-manager.pid"; do
    pid_alive "$f" && kill -TERM "$(cat "$f")" 2>/dev/null
  done
  stop_pidfile "$n/kubelet.pid"
  stop_pidfile "$n/kube-scheduler.pid"
  # Containers: kill every task, then delete them, so that their shims exit.
  if pid_alive "$n/containerd.pid"; then
    local ids id
    ids=$(CTR_TIMEOUT=10 ctr_node "$d" tasks ls -q 2>/dev/null || true)
    for id in $ids; do CTR_TIMEOUT=10 ctr_node "$d" tasks kill -a -s KILL "$id" >/dev/null 2>&1 || true; done
    # containerd's CRI plugin deletes the exited tasks itself; delete what
    # is left, for at most 5 s.
    for _ in $(seq 1 25); do
      ids=$(CTR_TIMEOUT=10 ctr_node "$d" tasks ls -q 2>/dev/null || true)
      [[ -z "$ids" ]] && break
      for id in $ids; do CTR_TIMEOUT=10 ctr_node "$d" tasks delete -f "$id" >/dev/null 2>&1 || true; done
      sleep 0.2
    done
  fi
  stop_pidfile "$n/containerd.pid"
  # Whatever survived (shims of this containerd, container processes).
  local pid
  for pid in $(grep -l -F -a -- "$n/containerd.sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  node_cgroup_remove
  # Network namespaces of the node's pods: the CNI result caches name them.
  local ns veth
  for f in /var/lib/cni/results/"$NODE_NETWORK"-*; do
    [[ -f "$f" ]] || continue
    # The host ends of the pods' veth pairs (no "sandbox" in their entry).
    for veth in $(grep -o '{"name":"veth[^"]*","mac":"[^"]*"}' "$f" | cut -d'"' -f4 | sort -u); do
      ip link del "$veth" 2>/dev/null || true
    done
    for ns in $(grep -o '"sandbox":"[^"]*"' "$f" | cut -d'"' -f4 | sort -u); do
      [[ "$ns" == /var/run/netns/* || "$ns" == /run/netns/* ]] || continue
      umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
      rm -f "$ns"
    done
    # containerd's own loopback network caches a result per sandbox too.
    local id=${f#/var/lib/cni/results/"$NODE_NETWORK"-}
    rm -f "$f" "/var/lib/cni/results/cni-loopback-${id%-*}-lo"
  done
  # Mounts under DIR (container root filesystems, Secret and token volumes).
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$n/" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  for f in /var/log/containers/*.log; do
    [[ -L "$f" && "$(readlink "$f")" == "$n/"* ]] && rm -f "$f"
  done
  node_dnat_down
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  node_remove_system_dirs "$d"
  if [[ -f "$NODE_OWNER" && "$(cat "$NODE_OWNER")" == "$d" ]]; then rm -f "$NODE_OWNER"; fi
  rm -rf "$n/containerd" "$n/kubelet" "$n/runc" "$n/cni/ipam" 2>/dev/null || true
}
