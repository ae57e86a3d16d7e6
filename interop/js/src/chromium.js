// Runs the browser peer in headless Chromium:
//
//   node src/chromium.js <relay multiaddr ending in /p2p/<id>>
//
// Serves dist/index.html and dist/browser.js (built by `npm run build`) on
// 127.0.0.1, opens the page in Chromium (playwright-core driving the
// system binary, $CHROMIUM or /usr/bin/chromium; it never downloads one)
// and copies the page's events to stdout as JSON lines, like src/node.js.
// The page's console goes to stderr. Exits when stdin closes.
//
// If $RELAYD_INTEROP_CA names a PEM file, that CA is made a trusted root
// for this browser only: Chromium on Linux reads trust anchors from the
// NSS database in $HOME/.pki/nssdb, so the browser runs with a fresh HOME
// whose database holds the CA (certutil, Debian package libnss3-tools).
// The browser then validates the relay's certificate chain and name as it
// would for any site. $RELAYD_INTEROP_HOST_RULES, if set, is passed as
// --host-resolver-rules (e.g. "MAP relay.test 127.0.0.1"), so a relay
// named by DNS in its certificate is reached on loopback.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const distDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')

// Chromium flags for a root user in a container with no display or GPU,
// and no traffic besides the test's own.
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]

const indexHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>relayd interop</title><link rel="icon" href="data:,"></head>
<body><script>
const debug = new URLSearchParams(location.search).get('debug')
if (debug) localStorage.setItem('debug', debug)
</script><script type="module" src="/browser.js"></script></body></html>
`

function report (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// trustCA makes a HOME whose NSS database trusts the CA in caFile.
function trustCA (home, caFile) {
  const db = join(home, '.pki', 'nssdb')
  mkdirSync(db, { recursive: true })
  execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'], { stdio: 'inherit' })
  execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-n', 'relayd-interop-ca', '-t', 'C,,', '-i', caFile], { stdio: 'inherit' })
}

function serve () {
  const bundle = readFileSync(join(distDir, 'browser.js'))
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(indexHTML)
    } else if (path === '/browser.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    } else {
      res.writeHead(404).end()
    }
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

async function main () {
  if (process.argv.length !== 3) {
    throw new Error('usage: node src/chromium.js <relay multiaddr>')
  }
  const home = mkdtempSync(join(tmpdir(), 'relayd-interop-chromium-'))
  if (process.env.RELAYD_INTEROP_CA) {
    trustCA(home, process.env.RELAYD_INTEROP_CA)
  }
  const server = await serve()
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: process.env.RELAYD_INTEROP_HOST_RULES
      ? [...chromiumArgs, `--host-resolver-rules=${process.env.RELAYD_INTEROP_HOST_RULES}`]
      : chromiumArgs,
    env: { ...process.env, HOME: home }
  })
  let stopping = false
  const stop = async (code) => {
    if (stopping) return
    stopping = true
    await browser.close().catch(() => {})
    server.close()
    rmSync(home, { recursive: true, force: true })
    process.exit(code)
  }
  process.stdin.on('end', () => stop(0))
  process.stdin.resume()
  process.on('SIGTERM', () => stop(0))
  browser.on('disconnected', () => {
    if (!stopping) {
      report({ event: 'error', error: 'chromium exited' })
      stop(1)
    }
  })

  const page = await browser.newPage()
  page.on('console', msg => process.stderr.write(`console.${msg.type()}: ${msg.text()}\n`))
  page.on('pageerror', err => report({ event: 'error', error: `page: ${err.message}` }))
  await page.exposeFunction('relaydReport', report)
  const url = new URL(`http://127.0.0.1:${server.address().port}/`)
  url.searchParams.set('relay', process.argv[2])
  if (process.env.DEBUG) {
    url.searchParams.set('debug', process.env.DEBUG)
  }
  report({ event: 'browser', version: browser.version() })
  await page.goto(url.toString())
}

main().catch(err => {
  report({ event: 'error', error: `${err.name}: ${err.message}` })
  process.exit(1)
})
