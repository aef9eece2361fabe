// An AF_NETLINK socket through koffi, and the operations hull needs on it.
// Plain libc calls (socket(2), bind(2), sendto(2), recv(2), setsockopt(2));
// the bytes come from requests.ts and are parsed by message.ts.
import { checkErrno, close, CLONE_NEWNET, libc, O_CLOEXEC, O_RDONLY, open, setns, SyscallError } from '@hull/sys';
import { NLMSG_DONE, NLMSG_ERROR, encodeMessage, netlinkError, parseError, parseIfinfomsg, parseMessages, RTM_NEWLINK, type NlMsg } from './message.js';
import * as rq from './requests.js';
import type { NetnsRef, Request } from './requests.js';

type Fn<A extends unknown[], R> = (...args: A) => R;
const raw = {
  socket: libc.func('int socket(int domain, int type, int protocol)') as Fn<[number, number, number], number>,
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)') as Fn<[number, Buffer, number], number>,
  sendto: libc.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)') as Fn<
    [number, Buffer, number, number, Buffer, number],
    number
  >,
  recv: libc.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as Fn<[number, Buffer, number, number], number>,
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as Fn<[number, number, number, Buffer, number], number>,
};

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
/** Ask the kernel to explain errors in words (extended ack), e.g. "Unknown device type". */
const NETLINK_EXT_ACK = 11;

/** struct sockaddr_nl: family u16, pad u16, pid u32 (0 = the kernel), groups u32. */
function sockaddrNl(): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
}

/**
 * A NETLINK_ROUTE socket. It belongs to the network namespace it was created
 * in, for its whole life: that is what `Rtnetlink.inNetns` relies on.
 */
export class Rtnetlink {
  private seq = Math.floor(Date.now() / 1000) >>> 0;
  private readonly buf = Buffer.alloc(64 * 1024);

  private constructor(private fd: number) {}

  /** A socket in the network namespace of this thread (the host, for the CLI process). */
  static open(): Rtnetlink {
    const fd = checkErrno(raw.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 'socket', ['AF_NETLINK', 'NETLINK_ROUTE']);
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      // Old kernels lack extended ack; errors then come without the kernel's words.
      raw.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
      const addr = sockaddrNl();
      checkErrno(raw.bind(fd, addr, addr.length), 'bind', ['AF_NETLINK']);
    } catch (err) {
      close(fd);
      throw err;
    }
    return new Rtnetlink(fd);
  }

  /**
   * A socket inside the network namespace of process `pid`. Node is
   * multithreaded, but setns(CLONE_NEWNET) moves only the calling thread and
   * is allowed for it (unlike user or mount namespaces). We step in, create
   * the socket, and step straight back: no JS runs in between, and from then
   * on every request on this socket acts in the container's namespace.
   */
  static inNetns(pid: number): Rtnetlink {
    return Rtnetlink.inNetnsFile(`/proc/${pid}/ns/net`);
  }

  /** The same, for a namespace file: /proc/PID/ns/net, or /run/netns/NAME from `ip netns add`. */
  static inNetnsFile(path: string): Rtnetlink {
    const target = open(path, O_RDONLY | O_CLOEXEC);
    const home = open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC);
    try {
      setns(target, CLONE_NEWNET);
      try {
        return Rtnetlink.open();
      } finally {
        setns(home, CLONE_NEWNET);
      }
    } finally {
      close(target);
      close(home);
    }
  }

  close(): void {
    if (this.fd >= 0) close(this.fd);
    this.fd = -1;
  }

  /** Send one request and read until its ACK; returns the replies before it. Throws SyscallError on NLMSG_ERROR. */
  request(req: Request): NlMsg[] {
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const msg = encodeMessage(req.type, req.flags, seq, req.header, req.attrs);
    const addr = sockaddrNl();
    checkErrno(raw.sendto(this.fd, msg, msg.length, 0, addr, addr.length), 'sendto', ['AF_NETLINK']);
    const replies: NlMsg[] = [];
    for (;;) {
      const n = checkErrno(raw.recv(this.fd, this.buf, this.buf.length, 0), 'recv', ['AF_NETLINK']);
      for (const m of parseMessages(Buffer.from(this.buf.subarray(0, n)))) {
        if (m.seq !== seq) continue; // a late answer to an earlier request
        if (m.type === NLMSG_ERROR) {
          const err = parseError(m);
          if (err.errno !== 0) throw netlinkError(err, req.args);
          return replies;
        }
        if (m.type === NLMSG_DONE) return replies;
        replies.push(m);
      }
    }
  }

  // --------------------------------------------------------------- operations

  createBridge(name: string): void {
    this.request(rq.newBridge(name));
  }

  createVeth(name: string, peer: string, peerNetns?: NetnsRef): void {
    this.request(rq.newVeth(name, peer, peerNetns));
  }

  /** The ifindex of a link; SyscallError ENODEV if there is none by that name. */
  linkIndex(name: string): number {
    const reply = this.request(rq.getLink(name)).find((m) => m.type === RTM_NEWLINK);
    if (!reply) throw new SyscallError('RTM_GETLINK', 19 /* ENODEV */, [name]);
    return parseIfinfomsg(reply.payload).index;
  }

  /** Does a link by that name exist in this socket's namespace? */
  hasLink(name: string): boolean {
    try {
      this.linkIndex(name);
      return true;
    } catch (err) {
      if (err instanceof SyscallError && err.code === 'ENODEV') return false;
      throw err;
    }
  }

  setUp(index: number, up = true): void {
    this.request(rq.setLinkUp(index, up));
  }

  setName(index: number, name: string): void {
    this.request(rq.setLinkName(index, name));
  }

  setMaster(index: number, master: number): void {
    this.request(rq.setLinkMaster(index, master));
  }

  moveToNetns(index: number, ns: NetnsRef): void {
    this.request(rq.setLinkNetns(index, ns));
  }

  addAddress(index: number, address: string, prefixlen: number): void {
    this.request(rq.newAddress(index, address, prefixlen));
  }

  addDefaultRoute(gateway: string, index: number): void {
    this.request(rq.newDefaultRoute(gateway, index));
  }

  deleteLink(name: string): void {
    this.request(rq.deleteLink(name));
  }
}
