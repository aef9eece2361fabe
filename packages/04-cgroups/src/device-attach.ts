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

/**
 * Room for the verifier's log. At level 1 a program that passes leaves one
 * summary line (about 100 bytes for docker's list, measured on 6.18); one
 * that fails leaves the path that failed, ending with the reason, which is
 * what the error shows. A few hundred instructions need far less than this.
 */
const VERIFIER_LOG_BYTES = 256 * 1024;

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
