#!/bin/sh
# PID 1 of the cgroup v2 guest (tools/cgroup2/harness.mjs). No systemd: the
# harness boots the kernel with init= this script, so the guest is a pure
# cgroup2 host and nothing else (cgroup_no_v1=all on the kernel command line).
#
# Disks (one NVMe controller, built into Debian's cloud kernel, so no initrd):
#   nvme0n1  the root, opened snapshot=on by qemu: every write is thrown away;
#   nvme0n2  a tar of the job: the built checkout and .hull-guest-job.sh;
#   nvme0n3  empty; we write a tar of /out to it, the harness reads it back.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() { echo "hull-guest: $*"; }

# Power off whatever happens: PID 1 must never exit (the kernel panics), and the
# harness waits for qemu to end.
finish() {
  echo "$1" > /out/exit-code
  say "exit $1, writing the results out"
  tar -cf /dev/nvme0n3 -C /out . || say "could not write the results disk"
  sync
  echo o > /proc/sysrq-trigger
  sleep 30
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /out
say "up $(cut -d' ' -f1 /proc/uptime)s after the kernel started"

# The unified hierarchy, mounted the way systemd does on Debian 12.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || finish 125
# Every controller the kernel has, handed down from the root (as systemd does
# for its slices); the root itself is exempt from the no-internal-processes rule.
controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
echo "$controllers" | sed 's/[a-z_][a-z_]*/+&/g' > /sys/fs/cgroup/cgroup.subtree_control || finish 125
# PID 1 (and all it starts) in a leaf, like systemd's init.scope, so the tests
# run where a user's shell would: never in a cgroup that hands controllers down.
mkdir /sys/fs/cgroup/init.scope
echo $$ > /sys/fs/cgroup/init.scope/cgroup.procs || finish 125
say "cgroup2: controllers: $controllers; subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control); PID 1 in $(cut -d: -f3 /proc/self/cgroup)"

# Loopback only: the guest has no network device at all (qemu -nic none).
ip link set lo up
hostname hull-guest
# overlayfs is a module in Debian's kernel; hull mounts container roots with it.
modprobe overlay || finish 125
# So is loop, and without udev/systemd nothing loads it on demand (no
# /dev/loop-control): final-runtime's devices.test.ts makes its "host disk"
# with losetup.
modprobe loop || finish 125

mkdir -p /job
tar -xf /dev/nvme0n2 -C /job || finish 125
say "job unpacked at $(cut -d' ' -f1 /proc/uptime)s"

# The job's own exit code lands in /out/exit-code; tee shows its output live
# on the serial console, which the harness streams.
{ sh /job/.hull-guest-job.sh; echo $? > /out/job-code; } 2>&1 | tee /out/guest.log
finish "$(cat /out/job-code 2>/dev/null || echo 125)"
