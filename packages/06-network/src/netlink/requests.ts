// The rtnetlink requests hull sends, as data. Each is what one `ip` command
// sends (shown above it), so a learner can compare with `ip -d monitor` or
// `strace -e sendto ip ...`. Building them is pure; sending is socket.ts.
import {
  AF_INET,
  attr,
  type Attr,
  encodeAttrs,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_LOCAL,
  IFF_UP,
  ifaddrmsg,
  ifinfomsg,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_NET_NS_FD,
  IFLA_NET_NS_PID,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTA_GATEWAY,
  RTA_OIF,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  rtmsg,
  VETH_INFO_PEER,
} from './message.js';
import { ipv4ToNumber, numberToIpv4 } from '../subnet.js';

export interface Request {
  type: number;
  flags: number;
  /** The family header: ifinfomsg, ifaddrmsg or rtmsg. */
  header: Buffer;
  attrs: Attr[];
  /** What to print in an error, e.g. ["hull0", "bridge"]. */
  args: unknown[];
}

const CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
const CHANGE = NLM_F_REQUEST | NLM_F_ACK;

/** Where a link goes: the netns of a process, or of an open /proc/PID/ns/net (or pidfd) file. */
export type NetnsRef = { pid: number } | { fd: number };

function netnsAttr(ns: NetnsRef): Attr {
  return 'pid' in ns ? attr.u32(IFLA_NET_NS_PID, ns.pid) : attr.u32(IFLA_NET_NS_FD, ns.fd);
}

/** ip link add NAME type bridge */
export function newBridge(name: string): Request {
  return {
    type: RTM_NEWLINK,
    flags: CREATE,
    header: ifinfomsg(),
    attrs: [attr.str(IFLA_IFNAME, name), attr.nested(IFLA_LINKINFO, [attr.str(IFLA_INFO_KIND, 'bridge')])],
    args: [name, 'bridge'],
  };
}

/**
 * ip link add NAME type veth peer name PEER [netns PID]
 *
 * The peer is described by a whole ifinfomsg + attributes inside
 * IFLA_INFO_DATA/VETH_INFO_PEER. Giving the peer a netns creates it straight
 * in the container: the pair is born split, so a crash can never leave the
 * container's end on the host.
 */
export function newVeth(name: string, peer: string, peerNetns?: NetnsRef): Request {
  const peerAttrs = [attr.str(IFLA_IFNAME, peer), ...(peerNetns ? [netnsAttr(peerNetns)] : [])];
  // VETH_INFO_PEER's value is not a list of attributes but an ifinfomsg
  // followed by attributes (the peer's own RTM_NEWLINK body), so it is raw bytes.
  const peerInfo = attr.raw(VETH_INFO_PEER, Buffer.concat([ifinfomsg(), encodeAttrs(peerAttrs)]));
  return {
    type: RTM_NEWLINK,
    flags: CREATE,
    header: ifinfomsg(),
    attrs: [
      attr.str(IFLA_IFNAME, name),
      attr.nested(IFLA_LINKINFO, [attr.str(IFLA_INFO_KIND, 'veth'), attr.nested(IFLA_INFO_DATA, [peerInfo])]),
    ],
    args: [name, 'veth', peer],
  };
}

/** ip link set dev INDEX up|down */
export function setLinkUp(index: number, up = true): Request {
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg({ index, flags: up ? IFF_UP : 0, change: IFF_UP }), attrs: [], args: [index, up ? 'up' : 'down'] };
}

/** ip link set dev INDEX name NAME */
export function setLinkName(index: number, name: string): Request {
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg({ index }), attrs: [attr.str(IFLA_IFNAME, name)], args: [index, 'name', name] };
}

/** ip link set dev INDEX master MASTER (0 = nomaster) */
export function setLinkMaster(index: number, master: number): Request {
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg({ index }), attrs: [attr.u32(IFLA_MASTER, master)], args: [index, 'master', master] };
}

/** ip link set dev INDEX netns PID|NAME */
export function setLinkNetns(index: number, ns: NetnsRef): Request {
  const where = 'pid' in ns ? `pid ${ns.pid}` : `fd ${ns.fd}`;
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg({ index }), attrs: [netnsAttr(ns)], args: [index, 'netns', where] };
}

/** ip link del NAME */
export function deleteLink(name: string): Request {
  return { type: RTM_DELLINK, flags: CHANGE, header: ifinfomsg(), attrs: [attr.str(IFLA_IFNAME, name)], args: [name] };
}

/** ip link show NAME: the kernel answers with one RTM_NEWLINK describing it. */
export function getLink(name: string): Request {
  return { type: RTM_GETLINK, flags: CHANGE, header: ifinfomsg(), attrs: [attr.str(IFLA_IFNAME, name)], args: [name] };
}

/** ip addr add ADDRESS/PREFIX broadcast + dev INDEX */
export function newAddress(index: number, address: string, prefixlen: number): Request {
  return {
    type: RTM_NEWADDR,
    flags: CREATE,
    header: ifaddrmsg({ family: AF_INET, prefixlen, index }),
    attrs: [attr.ipv4(IFA_LOCAL, address), attr.ipv4(IFA_ADDRESS, address), attr.ipv4(IFA_BROADCAST, broadcastOf(address, prefixlen))],
    args: [`${address}/${prefixlen}`, index],
  };
}

/** ip route add default via GATEWAY dev INDEX */
export function newDefaultRoute(gateway: string, index: number): Request {
  return {
    type: RTM_NEWROUTE,
    flags: CREATE,
    header: rtmsg({ family: AF_INET, dstLen: 0 }),
    attrs: [attr.ipv4(RTA_GATEWAY, gateway), attr.u32(RTA_OIF, index)],
    args: ['default', gateway, index],
  };
}

/** The all-ones host part of the address's subnet, as `ip addr add ... broadcast +` computes it. */
function broadcastOf(address: string, prefixlen: number): string {
  const hostBits = prefixlen >= 32 ? 0 : 2 ** (32 - prefixlen) - 1;
  return numberToIpv4((ipv4ToNumber(address) | hostBits) >>> 0);
}
