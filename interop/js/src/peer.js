// The js-libp2p peer the Go tests judge relayd with, shared by the Node.js
// entry (TCP) and the browser entry (WebSockets). It reserves a slot on one
// relay, reports its /p2p-circuit addresses, echoes what a go-libp2p peer
// sends through the circuit, and then opens its own stream back over the
// same relayed connection, so data crosses the relay in both directions on
// streams opened from both sides.
//
// Everything it has to say goes through report(obj): one JSON object per
// event ("listening", "echoed", "dialback", "error"); see ../README.md.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// Same protocol as the Go side's echoProto (hosts_test.go).
export const ECHO_PROTOCOL = '/relayd-interop/echo/1.0.0'

// Bytes the peer sends back to the go-libp2p dialer. Small enough that
// both directions together stay well under the relay's default data cap
// (128 KiB per direction) with identify and the go side's payload.
const DIALBACK_BYTES = 32 << 10
const WRITE_CHUNK = 4 << 10
const TIMEOUT_MS = 30_000

// startPeer starts a node with the given transport, listening on
// <relayAddr>/p2p-circuit, and resolves once it has a circuit address.
export async function startPeer ({ transport, relayAddr, report }) {
  const node = await createLibp2p({
    addresses: { listen: [`${relayAddr}/p2p-circuit`] },
    transports: [transport, circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The browser default refuses private addresses and plain ws; the
    // relay is on 127.0.0.1 here.
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify() }
  })
  await node.handle(ECHO_PROTOCOL, (stream, conn) => onEcho(stream, conn, report), {
    runOnLimitedConnection: true
  })
  const addrs = await circuitAddrs(node)
  report({ event: 'listening', peer: node.peerId.toString(), addrs })
  return node
}

// circuitAddrs waits until the reservation gave the node /p2p-circuit
// addresses (listen() normally resolves after that already).
async function circuitAddrs (node) {
  const deadline = Date.now() + TIMEOUT_MS
  for (;;) {
    const addrs = node.getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit'))
    if (addrs.length > 0) {
      return addrs
    }
    if (Date.now() > deadline) {
      throw new Error(`no /p2p-circuit address after ${TIMEOUT_MS} ms; have ${node.getMultiaddrs().join(' ')}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

async function onEcho (stream, conn, report) {
  try {
    const n = await echo(stream)
    report({ event: 'echoed', bytes: n, remotePeer: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString(), limited: conn.limits != null })
    const back = await dialBack(conn)
    report({ event: 'dialback', bytes: back })
  } catch (err) {
    report({ event: 'error', error: `${err.name}: ${err.message}` })
  }
}

// echo copies every byte back and closes its write side at EOF.
async function echo (stream) {
  let n = 0
  await readStream(stream, chunk => {
    n += chunk.byteLength
    if (!stream.send(chunk)) {
      stream.pause() // resumed once the echo is written out
      stream.onDrain().then(() => stream.resume()).catch(() => {})
    }
  })
  await stream.close()
  return n
}

// readStream calls onChunk for every chunk until the remote has closed its
// write side and everything it sent was delivered. It does not iterate the
// stream: in js-libp2p 3.3 the async iterator ends only on a
// 'remoteCloseWrite' event, and when a go-libp2p dialer sends protocol,
// data and FIN in one go, that event fires during multistream-select,
// before the handler runs; the iterator then never ends. Nor is 'end'
// enough: multistream-select's read-ahead makes the stream emit 'end' and
// then pushes the data back (readableEnded is already true with bytes
// still buffered), so completion is checked from the stream's state.
function readStream (stream, onChunk) {
  return new Promise((resolve, reject) => {
    const drained = () => stream.readBufferLength === 0 &&
      (stream.remoteWriteStatus === 'closed' || stream.readStatus === 'closed')
    const cleanup = () => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
    }
    const finish = () => { cleanup(); resolve() }
    const onMessage = evt => {
      onChunk(evt.data)
      if (drained()) finish()
    }
    const onEnd = () => { if (drained()) finish() }
    const onClose = evt => {
      cleanup()
      if (evt.error != null) {
        reject(evt.error)
      } else {
        resolve()
      }
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    if (drained()) finish()
  })
}

// dialBack opens an echo stream to the peer on the relayed connection it
// came in on, writes random bytes and checks they come back intact.
async function dialBack (conn) {
  const signal = AbortSignal.timeout(TIMEOUT_MS)
  const stream = await conn.newStream(ECHO_PROTOCOL, { runOnLimitedConnection: true, signal })
  const payload = randomBytes(DIALBACK_BYTES)
  const [, got] = await Promise.all([writeAll(stream, payload), readAll(stream)])
  if (!equal(got, payload)) {
    throw new Error(`dial-back echo: sent ${payload.length} bytes, got ${got.length} back, or different bytes`)
  }
  return got.length
}

async function writeAll (stream, payload) {
  for (let off = 0; off < payload.length; off += WRITE_CHUNK) {
    if (!stream.send(payload.subarray(off, off + WRITE_CHUNK))) {
      await stream.onDrain()
    }
  }
  await stream.close()
}

async function readAll (stream) {
  const parts = []
  await readStream(stream, chunk => parts.push(chunk.subarray()))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

function randomBytes (n) {
  const b = new Uint8Array(n)
  for (let off = 0; off < n; off += 65536) {
    globalThis.crypto.getRandomValues(b.subarray(off, off + 65536))
  }
  return b
}

function equal (a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

// checkRelayAddr fails early on an argument that is not a /p2p multiaddr.
export function checkRelayAddr (s) {
  const ma = multiaddr(s)
  if (ma.getComponents().at(-1)?.name !== 'p2p') {
    throw new Error(`relay address ${s} must end in /p2p/<relay peer id>`)
  }
  return ma.toString()
}
