// Browser peer, bundled by esbuild into dist/browser.js and loaded by
// dist/index.html (see chromium.js). Reads the relay address from the
// page's ?relay= query, dials it over WebSockets and runs peer.js. Events
// go to window.relaydReport, which chromium.js exposes to the page.

import { webSockets } from '@libp2p/websockets'
import { startPeer, checkRelayAddr } from './peer.js'

function report (obj) {
  globalThis.relaydReport(obj)
}

async function main () {
  const relay = new URLSearchParams(globalThis.location.search).get('relay')
  if (relay == null) {
    throw new Error('missing ?relay=<multiaddr> in the page URL')
  }
  globalThis.libp2pNode = await startPeer({ transport: webSockets(), relayAddr: checkRelayAddr(relay), report })
}

main().catch(err => {
  report({ event: 'error', error: `${err.name}: ${err.message}` })
})
