// pages.mjs: the loopback web the browser's web backend is tested against (tests/t_web.sh): pages in
// UTF-8 and ISO-8859-1, gzip, plain text, binary and oversized bodies, a server that never finishes, a
// redirect loop and chains, redirects to a private address and to another scheme, a 404, and a
// SearXNG-shaped /search?format=json. Node's standard library only; listens on 127.0.0.1 (and on
// 127.0.0.2, the "public" host the tests let through with --browser-allow-address, when it can).
import http from 'node:http';
import zlib from 'node:zlib';

const MB = 1 << 20;
const utf8Page = '<!DOCTYPE html><html><head><title>Grüße aus UTF-8</title></head><body>' +
  '<h1>Überschrift</h1><p>Straße, café, 日本語 and a <a href="/latin1.html">link to latin1</a>.</p>' +
  '</body></html>';
const latin1Page = Buffer.from('<html><head><title>Latin-1 page</title></head><body>' +
  '<p>Gr\xfc\xdfe aus K\xf6ln, \xe0 bient\xf4t.</p></body></html>', 'latin1');
const metaLatin1Page = Buffer.from('<html><head><meta charset="iso-8859-1"><title>Meta charset</title>' +
  '</head><body><p>Na\xefve fa\xe7ade.</p></body></html>', 'latin1');

function searchResults(q, port) {
  if (q === 'many') {
    return Array.from({ length: 30 }, (_, i) => ({
      url: `http://127.0.0.1:${port}/utf8.html?r=${i}`, title: `Result ${i}`, content: `snippet ${i}`,
    }));
  }
  return [
    { url: `http://127.0.0.1:${port}/utf8.html`, title: `About ${q}`, content: `All about ${q}.` },
    { url: 'https://example.org/b', title: 'Second result', content: null },
    { title: 'no url: skipped' },
    { url: 'https://example.org/c', title: 'Third result' },
  ];
}

function handler(port) {
  const sockets = new Set();
  const h = (req, res) => {
    const u = new URL(req.url, 'http://x');
    const p = u.pathname;
    const send = (status, type, body, extra = {}) => {
      const headers = { ...extra };
      if (type) headers['Content-Type'] = type;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (p === '/utf8.html') return send(200, 'text/html; charset=utf-8', utf8Page);
    if (p === '/latin1.html') return send(200, 'text/html; charset=ISO-8859-1', latin1Page);
    if (p === '/meta-latin1.html') return send(200, 'text/html', metaLatin1Page);
    if (p === '/gzip.html') {
      return send(200, 'text/html; charset=utf-8', zlib.gzipSync(utf8Page), { 'Content-Encoding': 'gzip' });
    }
    if (p === '/deflate.html') {
      return send(200, 'text/html; charset=utf-8', zlib.deflateSync(utf8Page), { 'Content-Encoding': 'deflate' });
    }
    if (p === '/plain.txt') return send(200, 'text/plain; charset=utf-8', 'line one <b>not bold</b> & more\nline two\n');
    if (p === '/empty.html') return send(200, 'text/html', '');
    if (p === '/image.png') return send(200, 'image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 1, 2, 3]));
    if (p === '/unlabelled.bin') return send(200, null, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
    if (p === '/big.html' || p === '/big-chunked.html') {
      // 50 MB: with a Content-Length curl refuses it from the header; chunked, the cap stops the body
      const total = 50 * MB, chunk = Buffer.alloc(MB, 'a');
      const headers = { 'Content-Type': 'text/html' };
      if (p === '/big.html') headers['Content-Length'] = String(total);
      res.writeHead(200, headers);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => {});
      return pump();
    }
    if (p === '/bomb.html') {
      // 50 MB once inflated, 50 KB on the wire
      return send(200, 'text/html', zlib.gzipSync(Buffer.alloc(50 * MB, 'a')), { 'Content-Encoding': 'gzip' });
    }
    if (p === '/slow.html') {
      // a first byte, then nothing: only the total timeout ends it
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.write('<html><body><p>slow');
      return;
    }
    if (p === '/stall') return; // headers never come
    if (p === '/loop') return send(302, null, '', { Location: '/loop' });
    const hop = p.match(/^\/hop\/(\d+)$/);
    if (hop) {
      const n = Number(hop[1]);
      return n ? send(302, null, '', { Location: `/hop/${n - 1}` }) : send(200, 'text/html', '<title>Hop end</title><p>arrived</p>');
    }
    if (p === '/to-private') return send(302, null, '', { Location: `http://127.0.0.1:${port.main}/utf8.html` });
    if (p === '/to-localhost') return send(302, null, '', { Location: `http://localhost:${port.main}/utf8.html` });
    if (p === '/to-ftp') return send(302, null, '', { Location: 'ftp://127.0.0.1/file.txt' });
    if (p === '/to-file') return send(302, null, '', { Location: 'file:///etc/passwd' });
    if (p === '/search') {
      const q = u.searchParams.get('q') || '';
      if (u.searchParams.get('format') !== 'json') return send(400, 'text/plain', 'format=json expected');
      if (q === 'forbidden') return send(403, 'text/html', '<h1>403 Forbidden</h1>');
      if (q === 'badjson') return send(200, 'application/json', '{"results": [');
      if (q === 'noresults') return send(200, 'application/json', JSON.stringify({ query: q, results: [] }));
      if (q === 'noarray') return send(200, 'application/json', JSON.stringify({ query: q }));
      return send(200, 'application/json', JSON.stringify({ query: q, number_of_results: 3, results: searchResults(q, port.main) }));
    }
    send(404, 'text/html', '<h1>Not Found</h1>');
  };
  return { h, sockets };
}

const port = { main: 0, public: 0 };
const { h } = handler(port);
const listen = (host) => new Promise((resolve) => {
  const s = http.createServer(h);
  s.on('error', () => resolve(null));
  s.listen(0, host, () => resolve(s));
});
const main = await listen('127.0.0.1');
port.main = main.address().port;
const pub = await listen('127.0.0.2');
port.public = pub ? pub.address().port : 0;
// the test reads the ports from the first line; it ends this process when it is done
console.log(`${port.main} ${port.public}`);
