#!/usr/bin/python3
"""A real HTTP SMS gateway for postier's tests (stdlib http.server), run in a
subprocess.

    gw = sms_gateway.Gateway(dirpath, mode='kannel', port=0, delay=0.0,
                             username=None, password=None, token=None)
    gw.start()          # binds 127.0.0.1:<gw.port> (a free port when 0; the
                        # same port again on a restart)
    gw.url              # 'http://127.0.0.1:<port>/cgi-bin/sendsms' (kannel)
                        # 'http://127.0.0.1:<port>/api/sms'         (json)
    gw.stop()
    with sms_gateway.Gateway(d, mode='json') as gw: ...   # start() / stop()

Modes: the protocol, optionally followed by `+behaviour`s (gw.mode may be
changed between stop() and start()):
  kannel            Kannel's sendsms interface: GET <path>?...; answers
                    `202` with the body `0: Accepted for delivery`
                    (text/plain)
  json              POST <path> with a JSON object body; answers `200` with
                    `{"id": "gw-<n>", "status": "accepted"}`
                    (application/json), n counting the accepted requests
                    from 1 (across restarts)
  +fail-once        the first request for each `to` number answers `500`
                    `Internal error`; later ones as the protocol
  +throttle-once    likewise with `429` `Too Many Requests`
  +reject           a `to` ending in `99` answers `400` `Invalid destination`
                    (every time); others as the protocol
  +drop-once        the first request for each `to` is read whole and the
                    connection closed without an answer (status None)
e.g. 'kannel+fail-once', 'json+throttle-once', 'kannel+reject'.
A request with the wrong method or path answers `405 Method Not Allowed` /
`404 Not Found`.  With username/password (kannel) or token (json) set, wrong
credentials answer `403 Authorization failed for sendsms` /
`401 Unauthorized`.  delay: seconds slept before answering each request
(to provoke client timeouts; the request is logged before the sleep).

Everything is written under dirpath (log.jsonl, one JSON object per line,
the body as base64), so the state survives restarts (the *-once behaviours
remember across restarts) and the reading methods work whether the server
runs or not:

  gw.requests()     every request received, in order:
                    {'t', 'conn', 'method', 'path' (the raw request target,
                    query included), 'query' (parse_qs of the query string,
                    keep_blank_values, UTF-8), 'headers' (lower-case names;
                    a repeated header's values joined with ', '),
                    'body': bytes, 'to' (the number as the gateway read it,
                    None when none), 'status' (int answered, None when the
                    connection was dropped), 'reply' (str, the body answered)}
  gw.accepted()     the requests answered 2xx
  gw.connections()  number of distinct TCP connections seen
  gw.clear()        forget everything recorded (the gateway must be stopped)

The subprocess and its log are managed by peerproc.py (shared with
smtp_peer.py).  Run with Debian's /usr/bin/python3 (stdlib only).
"""

import base64
import json
import os
import signal
import time
import urllib.parse

import peerproc
from peerproc import LOG

PROTOCOLS = ('kannel', 'json')
BEHAVIOURS = ('fail-once', 'throttle-once', 'reject', 'drop-once')
PATHS = {'kannel': '/cgi-bin/sendsms', 'json': '/api/sms'}
KANNEL_OK = '0: Accepted for delivery'
FAIL = (500, 'Internal error')
THROTTLE = (429, 'Too Many Requests')
REJECT = (400, 'Invalid destination')


def parse_mode(mode):
    """'kannel+fail-once' -> ('kannel', {'fail-once'}); ValueError if bad."""
    words = mode.split('+') if isinstance(mode, str) else []
    if not words or words[0] not in PROTOCOLS:
        raise ValueError('mode %r: a protocol (%s) optionally followed by +%s'
                         % (mode, ' | '.join(PROTOCOLS), ' +'.join(BEHAVIOURS)))
    extra = set(words[1:])
    bad = extra - set(BEHAVIOURS)
    if bad or len(extra) != len(words) - 1:
        raise ValueError('mode %r: unknown or repeated behaviour %s' % (mode, sorted(bad)))
    return words[0], extra


def _query_of(target):
    q = urllib.parse.urlsplit(target).query
    return urllib.parse.parse_qs(q, keep_blank_values=True, encoding='utf-8',
                                 errors='replace')


def _to_of(protocol, target, body):
    """The destination number of a request, as the gateway reads it."""
    if protocol == 'kannel':
        v = _query_of(target).get('to')
        return v[0] if v else None
    try:
        obj = json.loads(body.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return None
    v = obj.get('to') if isinstance(obj, dict) else None
    return v if isinstance(v, str) else None


class Gateway(peerproc.PeerProcess):
    WHAT = 'sms gateway'
    NOUN = 'gateway'
    STDERR_LOG = 'gateway-stderr.log'
    SCRIPT = os.path.abspath(__file__)

    def __init__(self, dirpath, mode='kannel', port=0, delay=0.0, username=None,
                 password=None, token=None, host='127.0.0.1'):
        parse_mode(mode)
        super().__init__(dirpath, port, host)
        self.mode = mode
        self.delay = float(delay)
        self.username, self.password, self.token = username, password, token

    # -- life cycle (start, stop, with: peerproc) ----------------------------

    @property
    def protocol(self):
        return parse_mode(self.mode)[0]

    @property
    def url(self):
        return 'http://%s:%d%s' % (self.host, self.port, PATHS[self.protocol])

    def config(self):
        parse_mode(self.mode)
        return {'dir': self.dir, 'mode': self.mode, 'port': self.port, 'host': self.host,
                'delay': self.delay, 'username': self.username, 'password': self.password,
                'token': self.token}

    def clear(self):
        self.check_stopped('clear()')
        try:
            os.unlink(os.path.join(self.dir, LOG))
        except FileNotFoundError:
            pass

    # -- what was seen --------------------------------------------------------

    def requests(self):
        out = []
        for ev in self.events():
            if ev.get('kind') != 'request':
                continue
            out.append({'t': ev['t'], 'conn': ev['conn'], 'method': ev['method'],
                        'path': ev['path'], 'query': _query_of(ev['path']),
                        'headers': dict(ev['headers']), 'body': base64.b64decode(ev['body']),
                        'to': ev['to'], 'status': ev['status'], 'reply': ev['reply']})
        return out

    def accepted(self):
        return [r for r in self.requests() if r['status'] is not None and r['status'] // 100 == 2]

    def connections(self):
        return len({r['conn'] for r in self.requests()})


# ---- the server (runs in the subprocess) ---------------------------------------


def _serve(cfg):
    import http.server
    import socketserver
    import threading

    protocol, behaviours = parse_mode(cfg['mode'])
    path_ok = PATHS[protocol]
    method_ok = 'GET' if protocol == 'kannel' else 'POST'
    lock = threading.Lock()
    old = peerproc.read_log(cfg['dir'])
    reqs = [ev for ev in old if ev.get('kind') == 'request']
    # what survives a restart
    state = {
        'failed': {ev['to'] for ev in reqs if ev['status'] == FAIL[0]},
        'throttled': {ev['to'] for ev in reqs if ev['status'] == THROTTLE[0]},
        'dropped': {ev['to'] for ev in reqs if ev['status'] is None},
        'ids': sum(1 for ev in reqs if ev.get('gw_id')),
        'conn': max([ev['conn'] for ev in old if isinstance(ev.get('conn'), int)] or [0]),
    }
    log = peerproc.JsonlLog(cfg['dir']).write

    def decide(method, target, headers, body):
        """(status, reply text, content type, gateway id or None, to);
        status None = drop the connection."""
        to = _to_of(protocol, target, body)
        split = urllib.parse.urlsplit(target)
        if split.path != path_ok:
            return 404, 'Not Found', 'text/plain', None, to
        if method != method_ok:
            return 405, 'Method Not Allowed', 'text/plain', None, to
        if protocol == 'kannel' and cfg['username'] is not None:
            q = _query_of(target)
            if (q.get('username') != [cfg['username']]
                    or q.get('password') != [cfg['password']]):
                return 403, 'Authorization failed for sendsms', 'text/plain', None, to
        if protocol == 'json' and cfg['token'] is not None:
            if headers.get('authorization') != 'Bearer ' + cfg['token']:
                return 401, 'Unauthorized', 'text/plain', None, to
        with lock:
            if 'drop-once' in behaviours and to not in state['dropped']:
                state['dropped'].add(to)
                return None, None, None, None, to
            if 'fail-once' in behaviours and to not in state['failed']:
                state['failed'].add(to)
                return FAIL[0], FAIL[1], 'text/plain', None, to
            if 'throttle-once' in behaviours and to not in state['throttled']:
                state['throttled'].add(to)
                return THROTTLE[0], THROTTLE[1], 'text/plain', None, to
            if 'reject' in behaviours and to is not None and to.endswith('99'):
                return REJECT[0], REJECT[1], 'text/plain', None, to
            if protocol == 'kannel':
                return 202, KANNEL_OK, 'text/plain', None, to
            state['ids'] += 1
            gid = 'gw-%d' % state['ids']
            return (200, json.dumps({'id': gid, 'status': 'accepted'}), 'application/json',
                    gid, to)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        server_version = 'sms-gateway/1'
        sys_version = ''

        def setup(self):
            super().setup()
            with lock:
                state['conn'] += 1
                self.conn_id = state['conn']

        def log_message(self, *a):
            pass

        def _body(self):
            if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
                data = b''
                while True:
                    size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                    if size == 0:
                        while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get('Content-Length') or 0)
            return self.rfile.read(n) if n > 0 else b''

        def _handle(self):
            t = time.time()
            body = self._body()
            headers = {}
            for k, v in self.headers.items():
                k = k.lower()
                headers[k] = headers[k] + ', ' + v if k in headers else v
            status, reply, ctype, gid, to = decide(self.command, self.path, headers, body)
            # logged before answering: once the client has its answer, the
            # record is on disk
            log(kind='request', conn=self.conn_id, t_received=t, method=self.command,
                path=self.path, headers=sorted(headers.items()),
                body=base64.b64encode(body).decode(), to=to, status=status, reply=reply,
                gw_id=gid)
            if cfg['delay']:
                time.sleep(cfg['delay'])
            if status is None:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            data = reply.encode('utf-8')
            self.send_response(status, {200: 'OK', 202: 'Accepted'}.get(status))
            self.send_header('Content-Type', ctype + '; charset=utf-8'
                             if ctype == 'text/plain' else ctype)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    server = Server((cfg['host'], cfg['port']), Handler)
    port = server.server_address[1]
    log(kind='start', conn=None, pid=os.getpid(), port=port, mode=cfg['mode'])

    def bye(*_):
        os._exit(0)  # open connections are cut; everything is already in the log
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    parent = os.getppid()

    def orphan_check():  # the test process died without stop(): go too
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)
    threading.Thread(target=orphan_check, daemon=True).start()
    peerproc.ready(port)
    server.serve_forever(poll_interval=0.2)


if __name__ == '__main__':
    peerproc.serve_main(_serve,
                        'usage: sms_gateway.py --serve CONFIG_JSON (use the Gateway class)')
