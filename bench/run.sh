#!/usr/bin/env bash
# hull against runc, crun, podman and skopeo+umoci, side by side, in one run.
#
#   sudo bench/run.sh            # everything; results in bench/results/
#   RUNS=30 PULL_RUNS=10 sudo bench/run.sh
#   SECTIONS=1,5 DEBIAN_DIR= sudo bench/run.sh   # start latency and the trace only, busybox only
#
# Not a test: npm test never runs it. It installs the anchors from Debian if
# missing, starts a docker-registry on 127.0.0.1 with the fixtures
# (bench/fixtures.ts, made by @hull/testkit), measures with hyperfine, and
# removes everything it made (containers, stores, bundles, the registry, the
# podman network, the hugetlb mount if it had to make one). See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-20}             # start latency: hyperfine runs per command
WARMUP=${WARMUP:-3}
PULL_RUNS=${PULL_RUNS:-5}    # pull + unpack takes seconds: fewer runs
SCALE=${SCALE:-20}           # detached containers
SCALE_RUNS=${SCALE_RUNS:-3}  # times the SCALE-wide parallel start is repeated
TRACE_RUNS=${TRACE_RUNS:-20}
OUT=${OUT:-$REPO/bench/results}
SECTIONS=${SECTIONS:-1,2,3,4,5}
want() { [[ ",$SECTIONS," == *",$1,"* ]]; }
DEBIAN_DIR=${DEBIAN_DIR:-/var/tmp/hull-bench/debian-minbase}  # kept between runs: debootstrap takes a while
MIRROR=${MIRROR:-http://deb.debian.org/debian}

log() { printf '\n== %s [%s, load %s]\n' "$*" "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run it as root (sudo)" >&2; exit 2; }

# ---------------------------------------------------------------- anchors
missing=()
for p in runc crun podman hyperfine skopeo umoci docker-registry debootstrap busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
[ -f "$REPO/packages/final-runtime/build/bin.js" ] || (cd "$REPO" && npx turbo run build --filter=@hull/final-runtime)

# ---------------------------------------------------------------- scratch
W=$(mktemp -d /var/tmp/hull-bench.XXXXXX)   # disk (ext4 here)
S=$(mktemp -d /dev/shm/hull-bench.XXXXXX)   # tmpfs
TAG=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$OUT"
FIXTURES_PID=
HUGETLB_MOUNTED=
# podman (cgroupfs manager) makes libpod_parent/ in every hierarchy; remove it at the end if we made it
LIBPOD_PARENT_BEFORE=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true)
PODMAN_NET=hullbench$TAG

# What users run: the bins, which load the esbuild bundle in build/. dist/ is
# the same code as tsc wrote it, one ES module per file: the "no bundle" rows.
HULL=(node "$REPO/packages/final-runtime/bin/hull.js")
HULL_DIST=(node "$REPO/packages/final-runtime/dist/bin.js")
RUNTIME=(node "$REPO/packages/final-runtime/bin/hull-runtime.js")
RUNTIME_DIST=(node "$REPO/packages/final-runtime/dist/runtime-bin.js")
export HULL_ROOT=$W/hull HULL_BRIDGE=hullb$TAG HULL_SUBNET=10.$((200 + RANDOM % 50)).$((RANDOM % 250)).0/24
podman_in() { # podman_in ROOTDIR ARGS...: a podman whose every file lives under ROOTDIR
  local r=$1; shift
  podman --root "$r/root" --runroot "$r/run" --network-config-dir "$r/net" --tmpdir "$r/tmp" \
    --cgroup-manager=cgroupfs --events-backend=file "$@"
}
PODMAN_RUN=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)

cleanup() {
  set +e
  log cleanup
  if [ -d "$HULL_ROOT/containers" ]; then
    ids=$("${HULL[@]}" ps -aq 2>/dev/null)
    [ -n "$ids" ] && "${HULL[@]}" rm -f $ids >/dev/null 2>&1
  fi
  for r in "$W/podman" "$W/pull/podman" "$S/pull/podman"; do
    [ -d "$r/root" ] || continue
    podman_in "$r" rm -af -t 0 >/dev/null 2>&1
    podman_in "$r" rmi -af >/dev/null 2>&1
    podman_in "$r" network rm -f "$PODMAN_NET" >/dev/null 2>&1
    # what podman still holds mounted under its root (its overlay driver's own mounts)
    grep -o " $r/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  done
  [ -n "$FIXTURES_PID" ] && kill -TERM "$FIXTURES_PID" 2>/dev/null && wait "$FIXTURES_PID" 2>/dev/null
  for d in "$W" "$S"; do
    grep -o " $d/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  done
  rm -rf "$W" "$S"
  if [ -z "$LIBPOD_PARENT_BEFORE" ]; then
    for c in /sys/fs/cgroup/*/libpod_parent; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; ; done
  fi
  if [ -n "$HUGETLB_MOUNTED" ]; then umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb && echo "undid the hugetlb v1 mount"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- fixtures
log "fixtures: Debian minbase in $DEBIAN_DIR"
if [ ! -x "$DEBIAN_DIR/bin/bash" ]; then
  if ! debootstrap --variant=minbase bookworm "$DEBIAN_DIR" "$MIRROR" > "$W/debootstrap.log" 2>&1; then
    echo "debootstrap could not reach $MIRROR (see $W/debootstrap.log): sections 2 and 3 need a large image; point DEBIAN_DIR at any rootfs" >&2
    tail -3 "$W/debootstrap.log" >&2
    DEBIAN_DIR=
  fi
fi
(cd "$REPO" && exec npx tsx bench/fixtures.ts "$W/fixtures.json" "$W/busybox-rootfs" ${DEBIAN_DIR:+"$DEBIAN_DIR"}) > "$W/fixtures.log" 2>&1 &
FIXTURES_PID=$!
for _ in $(seq 300); do [ -s "$W/fixtures.json" ] && break; kill -0 $FIXTURES_PID 2>/dev/null || break; sleep 1; done
[ -s "$W/fixtures.json" ] || { cat "$W/fixtures.log" >&2; exit 1; }
fx() { node -p "require('$W/fixtures.json').$1 ?? ''"; }
BUSYBOX=$(fx busybox); DEBIAN=$(fx debian)
echo "registry $(fx host): $BUSYBOX ${DEBIAN:+$DEBIAN (layers: $(fx debianLayers))}"

# runc/crun: an OCI bundle of the same busybox rootfs (and of the Debian tree), `runc spec` + our edits
bundle() { # bundle DIR ROOTFS
  mkdir -p "$1" && runc spec --bundle "$1"
  node -e '
    const fs = require("fs"); const f = process.argv[1] + "/config.json"; const c = JSON.parse(fs.readFileSync(f));
    c.process.terminal = false; c.process.args = ["true"]; c.root.path = process.argv[2];
    fs.writeFileSync(f, JSON.stringify(c, null, 2));' "$1" "$2"
}
bundle "$W/bundle-busybox" "$W/busybox-rootfs"
[ -n "$DEBIAN" ] && bundle "$W/bundle-debian" "$DEBIAN_DIR"

# crun (and podman, which uses crun here) refuse cgroup v1 hybrid mode while
# hugetlb is bound to no v1 hierarchy (shared/ANCHORS.md). Only if it must:
if ! crun --root "$W/crun-state" run -b "$W/bundle-busybox" "hullbench$TAG" > "$W/crun-probe.log" 2>&1; then
  if grep -q 'hybrid mode' "$W/crun-probe.log" && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
    log "crun: mounting the hugetlb v1 hierarchy (undone at the end)"
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    HUGETLB_MOUNTED=1
    crun --root "$W/crun-state" run -b "$W/bundle-busybox" "hullbench$TAG"
  else
    cat "$W/crun-probe.log" >&2; exit 1
  fi
fi

# podman: its bridge network, named with our prefix, in its own config dir
mkdir -p "$W/podman/net"
node -e '
  const [dir, name, iface, subnet] = process.argv.slice(1);
  const gw = subnet.replace(/\.0\/24$/, ".1");
  require("fs").writeFileSync(dir + "/" + name + ".json", JSON.stringify({
    name, id: require("crypto").randomBytes(32).toString("hex"), driver: "bridge", network_interface: iface,
    created: new Date().toISOString(), subnets: [{ subnet, gateway: gw }], ipv6_enabled: false, internal: false,
    dns_enabled: false, ipam_options: { driver: "host-local" } }));' \
  "$W/podman/net" "$PODMAN_NET" "hullpb$TAG" "10.$((200 + RANDOM % 50)).$((RANDOM % 250)).0/24"

log "pulling the images into hull and podman (start benchmarks run from the local store)"
"${HULL[@]}" pull "$BUSYBOX" > /dev/null
podman_in "$W/podman" pull -q --tls-verify=false "$BUSYBOX" > /dev/null
if [ -n "$DEBIAN" ]; then
  "${HULL[@]}" pull "$DEBIAN" > /dev/null
  podman_in "$W/podman" pull -q --tls-verify=false "$DEBIAN" > /dev/null
fi

# ---------------------------------------------------------------- machine
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), cgroup $([ -d /sys/fs/cgroup/unified ] && echo 'v1 hybrid' || stat -fc %T /sys/fs/cgroup)"
  echo "disk: $(findmnt -no FSTYPE --target "$W") under /var/tmp; tmpfs: /dev/shm"
  echo "versions: node $(node --version), $(runc --version | head -1), $(crun --version | head -1), podman $(podman --version | cut -d' ' -f3) ($(podman_in "$W/podman" info --format '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}}')), $(hyperfine --version), skopeo $(skopeo --version | cut -d' ' -f3), umoci $(umoci --version | cut -d' ' -f3), hull $(git -C "$REPO" rev-parse --short HEAD)"
  echo "hugetlb v1 mount made for crun: ${HUGETLB_MOUNTED:-no}"
} | tee "$OUT/machine.txt"

hf() { # hf NAME [hyperfine args...]: one hyperfine invocation, JSON in $OUT/NAME.json, load noted
  local name=$1; shift
  log "hyperfine $name"
  echo "$name: load before $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
  hyperfine --style basic --export-json "$OUT/$name.json" "$@"
  echo "$name: load after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
}
: > "$OUT/load.txt"

# ---------------------------------------------------------------- 1. start latency
want 1 && hf start --warmup "$WARMUP" --runs "$RUNS" \
  -n "node -e ''" "node -e ''" \
  -n "hull --network none" "${HULL[*]} run --rm --network none $BUSYBOX true" \
  -n "hull --network none, no bundle (dist/)" "${HULL_DIST[*]} run --rm --network none $BUSYBOX true" \
  -n "hull --network bridge" "${HULL[*]} run --rm --network bridge $BUSYBOX true" \
  -n "runc run" "runc --root $W/runc-state run -b $W/bundle-busybox hullbench$TAG" \
  -n "crun run" "crun --root $W/crun-state run -b $W/bundle-busybox hullbench$TAG" \
  -n "hull-runtime run" "${RUNTIME[*]} --root $W/hull-runtime-state run -b $W/bundle-busybox hullbench$TAG" \
  -n "hull-runtime run, no bundle (dist/)" "${RUNTIME_DIST[*]} --root $W/hull-runtime-state run -b $W/bundle-busybox hullbench$TAG" \
  -n "podman --network none" "podman --root $W/podman/root --runroot $W/podman/run --network-config-dir $W/podman/net --tmpdir $W/podman/tmp --cgroup-manager=cgroupfs --events-backend=file run --rm ${PODMAN_RUN[*]} --network none $BUSYBOX true" \
  -n "podman bridge" "podman --root $W/podman/root --runroot $W/podman/run --network-config-dir $W/podman/net --tmpdir $W/podman/tmp --cgroup-manager=cgroupfs --events-backend=file run --rm ${PODMAN_RUN[*]} --network $PODMAN_NET $BUSYBOX true"

# ---------------------------------------------------------------- 2. start vs image size
if [ -n "$DEBIAN" ] && want 2; then
  hf image-size --warmup "$WARMUP" --runs "$RUNS" \
    -n "hull busybox" "${HULL[*]} run --rm --network none $BUSYBOX true" \
    -n "hull debian" "${HULL[*]} run --rm --network none $DEBIAN true" \
    -n "crun busybox" "crun --root $W/crun-state run -b $W/bundle-busybox hullbench$TAG" \
    -n "crun debian" "crun --root $W/crun-state run -b $W/bundle-debian hullbench$TAG" \
    -n "podman busybox" "podman --root $W/podman/root --runroot $W/podman/run --network-config-dir $W/podman/net --tmpdir $W/podman/tmp --cgroup-manager=cgroupfs --events-backend=file run --rm ${PODMAN_RUN[*]} --network none $BUSYBOX true" \
    -n "podman debian" "podman --root $W/podman/root --runroot $W/podman/run --network-config-dir $W/podman/net --tmpdir $W/podman/tmp --cgroup-manager=cgroupfs --events-backend=file run --rm ${PODMAN_RUN[*]} --network none $DEBIAN true"
fi

# ---------------------------------------------------------------- 3. pull + unpack
# cold: an empty store, every blob fetched and unpacked; warm: the image is already in the store.
# The registry's blobs stay in the page cache either way (dropping caches would hurt the other users).
if [ -n "$DEBIAN" ] && want 3; then
  for fs in disk tmpfs; do
    R=$W/pull; [ $fs = tmpfs ] && R=$S/pull
    mkdir -p "$R"
    P="podman --root $R/podman/root --runroot $R/podman/run --network-config-dir $R/podman/net --tmpdir $R/podman/tmp --cgroup-manager=cgroupfs --events-backend=file"
    SK="skopeo copy -q --src-tls-verify=false docker://$DEBIAN oci:$R/oci:latest && umoci unpack --image $R/oci:latest $R/bundle > /dev/null"
    hf "pull-cold-$fs" --warmup 1 --runs "$PULL_RUNS" \
      --prepare "rm -rf $R/hull $R/podman $R/oci $R/bundle $R/tar; sync" \
      -n "hull pull" "HULL_ROOT=$R/hull ${HULL[*]} pull $DEBIAN > /dev/null" \
      -n "podman pull" "$P pull -q --tls-verify=false $DEBIAN > /dev/null" \
      -n "skopeo copy + umoci unpack" "$SK" \
      -n "tar -xzf of the 3 layers (floor)" "mkdir $R/tar && for b in $(fx debianBlobs); do tar -xzf \$b -C $R/tar; done"
    hf "pull-warm-$fs" --warmup 1 --runs "$PULL_RUNS" \
      --prepare "rm -rf $R/bundle; sync" \
      -n "hull pull" "HULL_ROOT=$R/hull ${HULL[*]} pull $DEBIAN > /dev/null" \
      -n "podman pull" "$P pull -q --tls-verify=false $DEBIAN > /dev/null" \
      -n "skopeo copy + umoci unpack" "$SK"
    $P rmi -af > /dev/null 2>&1 || true
    rm -rf "$R"
  done
fi

# ---------------------------------------------------------------- 4. scale
# Host-side memory beyond the containers' own processes: for hull its one
# supervisor (the CLIs have exited), for podman one conmon per container.
# RSS counts shared pages in every process; PSS splits them fairly.
mem_of() { # mem_of PID...: "RSS_KB PSS_KB" summed
  local rss=0 pss=0 p
  for p in "$@"; do
    read -r r s < <(awk '/^Rss:/ {r=$2} /^Pss:/ {s=$2} END {print r+0, s+0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
    rss=$((rss + r)); pss=$((pss + s))
  done
  echo "$rss $pss"
}
conmons_of() { # conmon processes of the podman whose root is $1
  local d
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = conmon ] && tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q -- "$1" && echo "${d#/proc/}"
  done
  return 0
}
if want 4; then
  log "scale: $SCALE detached containers in parallel, $SCALE_RUNS times each"
  echo "scale: load before $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
  : > "$OUT/scale.txt"
  for i in $(seq "$SCALE_RUNS"); do
    t0=$(date +%s%N)
    pids=()
    for _ in $(seq "$SCALE"); do "${HULL[@]}" run -d --network none "$BUSYBOX" sleep 300 > /dev/null & pids+=($!); done
    wait "${pids[@]}"
    t1=$(date +%s%N)
    running=$("${HULL[@]}" ps -q | wc -l)
    sup=$(cat "$HULL_ROOT/supervisor.pid" 2>/dev/null || echo)
    read -r rss pss < <(mem_of $sup)
    echo "hull run -d x$SCALE: $(( (t1 - t0) / 1000000 )) ms, running $running, supervisor pid ${sup:-none} rss ${rss} kB pss ${pss} kB" | tee -a "$OUT/scale.txt"
    "${HULL[@]}" rm -f $("${HULL[@]}" ps -aq) > /dev/null
    t0=$(date +%s%N)
    pids=()
    for _ in $(seq "$SCALE"); do podman_in "$W/podman" run -d "${PODMAN_RUN[@]}" --network none "$BUSYBOX" sleep 300 > /dev/null & pids+=($!); done
    wait "${pids[@]}"
    t1=$(date +%s%N)
    running=$(podman_in "$W/podman" ps -q | wc -l)
    mapfile -t conmons < <(conmons_of "$W/podman/root")
    read -r rss pss < <(mem_of "${conmons[@]}")
    echo "podman run -d x$SCALE: $(( (t1 - t0) / 1000000 )) ms, running $running, conmon x${#conmons[@]} rss ${rss} kB pss ${pss} kB" | tee -a "$OUT/scale.txt"
    podman_in "$W/podman" rm -af -t 0 > /dev/null
  done
  echo "scale: load after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
fi

# ---------------------------------------------------------------- 5. where hull's start goes
if want 5; then
  log "HULL_TRACE=1 x$TRACE_RUNS"
  echo "trace: load before $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
  : > "$OUT/trace.log"
  for _ in $(seq "$TRACE_RUNS"); do
    s=$(date +%s%N)
    HULL_TRACE=1 "${HULL[@]}" run --rm --network none "$BUSYBOX" true 2>> "$OUT/trace.log"
    echo "hull-wall $(( ($(date +%s%N) - s) / 1000 ))" >> "$OUT/trace.log"
  done
  if [ -n "$DEBIAN" ]; then
    : > "$OUT/trace-debian.log"
    for _ in $(seq "$TRACE_RUNS"); do
      s=$(date +%s%N)
      HULL_TRACE=1 "${HULL[@]}" run --rm --network none "$DEBIAN" true 2>> "$OUT/trace-debian.log"
      echo "hull-wall $(( ($(date +%s%N) - s) / 1000 ))" >> "$OUT/trace-debian.log"
    done
  fi

  # the same code as tsc wrote it (dist/), for "load the run command's modules" with and without the bundle
  : > "$OUT/trace-dist.log"
  for _ in $(seq "$TRACE_RUNS"); do
    s=$(date +%s%N)
    HULL_TRACE=1 "${HULL_DIST[@]}" run --rm --network none "$BUSYBOX" true 2>> "$OUT/trace-dist.log"
    echo "hull-wall $(( ($(date +%s%N) - s) / 1000 ))" >> "$OUT/trace-dist.log"
  done
  echo "trace: load after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
fi
log report
(cd "$REPO" && npx tsx bench/report.ts "$OUT") | tee "$OUT/report.md"
