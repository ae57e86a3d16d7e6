// Node.js peer: `node src/node.js <relay multiaddr ending in /p2p/<id>>`.
// Dials the relay over TCP, then runs peer.js. Prints one JSON object per
// line on stdout; exits when stdin closes (the Go test owns the lifetime).

// js-libp2p 3.x calls Promise.withResolvers (Node >= 22); Node 20 lacks it.
// It must exist before libp2p's modules load, hence the dynamic imports.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { tcp } = await import('@libp2p/tcp')
const { startPeer, checkRelayAddr } = await import('./peer.js')

function report (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function main () {
  if (process.argv.length !== 3) {
    throw new Error('usage: node src/node.js <relay multiaddr>')
  }
  const node = await startPeer({ transport: tcp(), relayAddr: checkRelayAddr(process.argv[2]), report })
  const stop = async () => {
    await node.stop()
    process.exit(0)
  }
  process.stdin.on('end', stop)
  process.stdin.resume()
  process.on('SIGTERM', stop)
}

main().catch(err => {
  report({ event: 'error', error: `${err.name}: ${err.message}` })
  process.exit(1)
})
