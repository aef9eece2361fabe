// Put a device program into force for a cgroup: bpf(BPF_PROG_LOAD), then
// bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) on an fd of the cgroup's directory.
// The attachment holds its own reference to the program, so our fd is closed
// right away: the program lives exactly as long as the cgroup (rmdir frees
// it), and nothing of it stays open in hull or leaks into the container.
import {
  BPF_CGROUP_DEVICE,
  BPF_F_ALLOW_MULTI,
  BPF_PROG_TYPE_CGROUP_DEVICE,
  type BpfInsn,
  bpfProgAttach,
  bpfProgLoad,
  close,
  O_CLOEXEC,
  O_DIRECTORY,
  O_RDONLY,
  open,
} from '@hull/sys';

/** Room for the verifier's log (level 1 traces every instruction); a device program of a few hundred instructions needs far less. */
const VERIFIER_LOG_BYTES = 1 << 20;

export function attachDeviceProgram(dir: string, program: readonly BpfInsn[]): void {
  const progFd = bpfProgLoad({
    type: BPF_PROG_TYPE_CGROUP_DEVICE,
    expectedAttachType: BPF_CGROUP_DEVICE,
    insns: program,
    // A device program calls no helper, GPL-only or not; the string is still required.
    license: 'GPL',
    name: 'hull_devices',
    log: Buffer.alloc(VERIFIER_LOG_BYTES),
  });
  try {
    const cgroupFd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      // ALLOW_MULTI: programs attached below (a nested runtime's) run too, and all must allow, so none can widen ours.
      bpfProgAttach(cgroupFd, progFd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
    } finally {
      close(cgroupFd);
    }
  } finally {
    close(progFd);
  }
}
