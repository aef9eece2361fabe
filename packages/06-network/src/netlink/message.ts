// rtnetlink messages as bytes, built and parsed by pure functions (no socket,
// no root), so every byte can be unit-tested and shown in the docs.
//
// A message on a NETLINK_ROUTE socket is (netlink(7), rtnetlink(7)):
//
//   nlmsghdr (16 bytes)   len u32 | type u16 | flags u16 | seq u32 | pid u32
//   family header         ifinfomsg (16) | ifaddrmsg (8) | rtmsg (12)
//   attributes            rtattr: len u16 | type u16 | value, padded to 4 bytes
//
// Every integer is in host byte order (little-endian on x86_64 and aarch64);
// IPv4 addresses inside attributes are in network order, as on the wire.
import { SyscallError } from '@hull/sys';

/** Message types (<linux/rtnetlink.h>, <linux/netlink.h>). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_NEWROUTE = 24;

/** nlmsghdr flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** On an NLMSG_ERROR: the echoed request is only its header; extended-ack attributes follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** Address families and link flags. */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const IFF_UP = 0x1;

/** Link attributes (IFLA_*), <linux/if_link.h>. */
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_MASTER = 10;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_PID = 19;
export const IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;

/** Address attributes (IFA_*), <linux/if_addr.h>. */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_BROADCAST = 4;

/** Route attributes and rtmsg values, <linux/rtnetlink.h>. */
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RT_SCOPE_UNIVERSE = 0;
export const RTN_UNICAST = 1;

/** Extended ack attributes carried by an NLMSG_ERROR (<linux/netlink.h>). */
export const NLMSGERR_ATTR_MSG = 1;

export const NLMSG_HDRLEN = 16;
const RTA_HDRLEN = 4;

const align4 = (n: number): number => (n + 3) & ~3;

// ------------------------------------------------------------------ attributes

/** One rtattr; `value` is raw bytes or a list of attributes (a nested attribute). */
export interface Attr {
  type: number;
  value: Buffer | Attr[];
}

export const attr = {
  u32(type: number, v: number): Attr {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return { type, value: b };
  },
  /** A C string: the kernel wants the NUL (IFLA_IFNAME, IFLA_INFO_KIND). */
  str(type: number, s: string): Attr {
    return { type, value: Buffer.from(`${s}\0`, 'utf8') };
  },
  ipv4(type: number, address: string): Attr {
    return { type, value: ipv4Bytes(address) };
  },
  nested(type: number, children: Attr[]): Attr {
    return { type, value: children };
  },
  raw(type: number, value: Buffer): Attr {
    return { type, value };
  },
};

function encodeAttr(a: Attr): Buffer {
  const payload = Array.isArray(a.value) ? encodeAttrs(a.value) : a.value;
  const len = RTA_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(a.type, 2);
  payload.copy(out, RTA_HDRLEN);
  return out;
}

export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  return Buffer.concat(attrs.map(encodeAttr));
}

/** Parse a run of rtattrs into type -> value (the last one wins, as in the kernel's nla_parse). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + RTA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < RTA_HDRLEN || off + len > buf.length) throw new RangeError(`netlink: truncated attribute ${type} at offset ${off}`);
    out.set(type, buf.subarray(off + RTA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** A NUL-terminated string attribute value. */
export function attrString(value: Buffer | undefined): string | undefined {
  if (!value) return undefined;
  const end = value.indexOf(0);
  return value.subarray(0, end < 0 ? value.length : end).toString('utf8');
}

// ------------------------------------------------------------ family headers

export interface IfInfoMsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

/** struct ifinfomsg: family u8, pad u8, type u16, index i32, flags u32, change u32. */
export function ifinfomsg(m: IfInfoMsg = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(m.family ?? AF_UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE(m.flags ?? 0, 8);
  b.writeUInt32LE(m.change ?? 0, 12);
  return b;
}

export function parseIfinfomsg(b: Buffer): Required<IfInfoMsg> {
  if (b.length < 16) throw new RangeError('netlink: truncated ifinfomsg');
  return { family: b.readUInt8(0), type: b.readUInt16LE(2), index: b.readInt32LE(4), flags: b.readUInt32LE(8), change: b.readUInt32LE(12) };
}

/** struct ifaddrmsg: family u8, prefixlen u8, flags u8, scope u8, index u32. */
export function ifaddrmsg(m: { family: number; prefixlen: number; index: number; scope?: number }): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.prefixlen, 1);
  b.writeUInt8(m.scope ?? RT_SCOPE_UNIVERSE, 3);
  b.writeUInt32LE(m.index, 4);
  return b;
}

/** struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags u32. */
export function rtmsg(m: { family: number; dstLen: number; table?: number; protocol?: number; scope?: number; type?: number }): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLen, 1);
  b.writeUInt8(m.table ?? RT_TABLE_MAIN, 4);
  b.writeUInt8(m.protocol ?? RTPROT_BOOT, 5);
  b.writeUInt8(m.scope ?? RT_SCOPE_UNIVERSE, 6);
  b.writeUInt8(m.type ?? RTN_UNICAST, 7);
  return b;
}

// ------------------------------------------------------------------ messages

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the 16-byte header: family header + attributes. */
  payload: Buffer;
}

/** A complete message: nlmsghdr + family header + attributes. pid 0 = "to the kernel". */
export function encodeMessage(type: number, flags: number, seq: number, header: Buffer, attrs: readonly Attr[] = []): Buffer {
  const body = Buffer.concat([header, encodeAttrs(attrs)]);
  const out = Buffer.alloc(NLMSG_HDRLEN + align4(body.length));
  out.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(0, 12);
  body.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Split one datagram from the kernel into its messages. */
export function parseMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new RangeError(`netlink: truncated message at offset ${off}`);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** What an NLMSG_ERROR says: errno 0 is the ACK; `message` is the kernel's extended ack text, if any. */
export interface NetlinkError {
  errno: number;
  message?: string;
  /** The type of the request it answers. */
  requestType: number;
}

/**
 * struct nlmsgerr: error i32 (a negative errno, 0 = ACK), then the request's
 * nlmsghdr (and its payload unless NLM_F_CAPPED), then with NLM_F_ACK_TLVS the
 * extended ack attributes, e.g. NLMSGERR_ATTR_MSG "Unknown device type".
 */
export function parseError(msg: NlMsg): NetlinkError {
  if (msg.type !== NLMSG_ERROR) throw new TypeError(`netlink: message type ${msg.type} is not NLMSG_ERROR`);
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new RangeError('netlink: truncated NLMSG_ERROR');
  const errno = Math.abs(p.readInt32LE(0)); // the kernel sends -errno
  const requestType = p.readUInt16LE(4 + 4);
  const result: NetlinkError = { errno, requestType };
  if (msg.flags & NLM_F_ACK_TLVS) {
    const echoed = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : p.readUInt32LE(4);
    const text = attrString(parseAttrs(p.subarray(4 + align4(echoed))).get(NLMSGERR_ATTR_MSG));
    if (text) result.message = text;
  }
  return result;
}

const REQUEST_NAMES: Record<number, string> = {
  [RTM_NEWLINK]: 'RTM_NEWLINK',
  [RTM_DELLINK]: 'RTM_DELLINK',
  [RTM_GETLINK]: 'RTM_GETLINK',
  [RTM_NEWADDR]: 'RTM_NEWADDR',
  [RTM_NEWROUTE]: 'RTM_NEWROUTE',
};

/**
 * A failed request as our one error type. It reads like strace, with the
 * kernel's own explanation when it gave one:
 *   RTM_NEWLINK("hull0", "bridge"): EEXIST (File exists)
 *   RTM_NEWLINK("x", "nosuch"): EOPNOTSUPP (Unknown device type)
 */
export function netlinkError(err: NetlinkError, args: readonly unknown[] = []): SyscallError {
  const name = REQUEST_NAMES[err.requestType] ?? `netlink(${err.requestType})`;
  return new SyscallError(name, err.errno, args, err.message);
}

// --------------------------------------------------------------------- IPv4

export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new TypeError(`not an IPv4 address: ${address}`);
  }
  return Buffer.from(parts.map(Number));
}

export function ipv4String(b: Buffer): string {
  return [...b.subarray(0, 4)].join('.');
}

// ----------------------------------------------------------------- hexdump

/** `xxd`-like lines with a byte offset, for tests and docs. */
export function hexdump(buf: Buffer): string {
  const lines: string[] = [];
  for (let off = 0; off < buf.length; off += 16) {
    const row = buf.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const groups: string[] = [];
    for (let i = 0; i < hex.length; i += 4) groups.push(hex.slice(i, i + 4).join(''));
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(4, '0')}: ${groups.join(' ').padEnd(35)}  ${ascii}`);
  }
  return lines.join('\n');
}
