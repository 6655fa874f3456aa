#!/usr/bin/python3
"""A real SMTP server for postier's tests (aiosmtpd), run in a subprocess.

    peer = smtp_peer.Peer(dirpath, mode='accept', port=0, tls_cert=None,
                          tls_key=None, auth=None, delay=0.0, implicit_tls=False)
    peer.start()        # binds 127.0.0.1:<peer.port> (a free port when 0;
                        # the same port again on a restart)
    peer.url            # 'smtp://127.0.0.1:<port>' ('smtps://' with implicit_tls)
    peer.stop()
    with smtp_peer.Peer(d) as peer: ...   # start() / stop()

Modes (peer.mode may be changed between stop() and start()):
  accept            250 for everything; DATA answers
                    `250 2.0.0 Ok: queued as <QUEUEID>` (unique queue id)
  tempfail-once     the first RCPT TO of each address answers
                    `451 4.3.0 Try again later`; later ones are accepted
  tempfail-always   every RCPT TO answers `451 4.3.0 Try again later`
  tempfail-data-once  the first DATA of each Message-ID answers
                    `451 4.3.0 Try again later`; later ones are accepted
  reject            RCPT TO of an address whose local part starts with `bad`
                    answers `550 5.1.1 No such user`; others are accepted
  drop-after-data   the first time a Message-ID is received the whole message
                    is read (up to the final `.`) and the connection is closed
                    without a reply; later deliveries of it are accepted
  hang-after-data   every DATA is read whole (up to the final `.`) and never
                    answered: the server waits until the client goes away
delay: seconds slept in DATA before replying (and before dropping).
auth=('user', 'pass'): AUTH (PLAIN/LOGIN, also without TLS) is required
before MAIL and offered even without TLS (so a client that would send its
password in clear can be caught: every AUTH command is logged, with `tls`,
before anything else happens); wrong credentials answer `535 5.7.8 ...`.
tls_cert/tls_key (PEM files): STARTTLS offered and required before MAIL;
with implicit_tls=True the listening socket is TLS from the first byte
(smtps://) instead.

Everything the server sees is written under dirpath (log.jsonl, one JSON
object per event, and data-NNNNNN.eml, the bytes of each DATA exactly as
received minus dot-stuffing), so the state survives restarts of the server
within a test (tempfail-once and drop-after-data remember across restarts)
and the reading methods work whether the server runs or not:

  peer.messages()   one dict per message ACCEPTED (2xx after DATA), in
                    order: {'t', 'conn', 'mail_from', 'rcpt': [..],
                    'data': bytes, 'message_id', 'code', 'reply', 'queue_id',
                    'tls': bool, 'auth': login or None}
  peer.accepted_count()  len(peer.messages()), from the log alone (cheap
                    to poll while a run sends)
  peer.received()   the same for every DATA received, accepted or not
                    (a dropped one has code None and 'dropped': True)
  peer.events()     every event: {'t', 'conn', 'cmd', ...} with cmd one of
                    START, CONNECT, DISCONNECT, STARTTLS, AUTH-CMD (an AUTH
                    command as received: 'mechanism', 'tls'), AUTH (its
                    outcome: 'login', 'code', 'tls'), RCPT, DATA;
                    replies carry 'code' (int, None when none was sent) and
                    'reply' (the full reply line); RCPT has 'rcpt' (address)
                    and 'mail_from', MAIL 'mail_from'; CONNECT/DISCONNECT have 'open' (sessions
                    open after the event)
  peer.max_concurrent_sessions()   highest number of simultaneously open
                    SMTP sessions seen
  peer.connections()  number of distinct connections seen
  peer.clear()      forget everything recorded (the server must be stopped)

The subprocess and its log are managed by peerproc.py (shared with
sms_gateway.py).  Run with Debian's /usr/bin/python3 (aiosmtpd 1.4).
"""

import asyncio
import email.parser
import email.policy
import os
import signal
import sys
import uuid

import peerproc
from peerproc import LOG

MODES = ('accept', 'tempfail-once', 'tempfail-always', 'tempfail-data-once',
         'reject', 'drop-after-data', 'hang-after-data')
TEMPFAIL = '451 4.3.0 Try again later'
NOUSER = '550 5.1.1 No such user'


def _accepted(ev):
    """A DATA event answered 2xx."""
    return ev['cmd'] == 'DATA' and ev.get('code') and ev['code'] // 100 == 2


def message_id_of(data):
    """The Message-ID header of raw message bytes (stripped), or None."""
    try:
        h = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
        v = h.get('Message-ID')
        return str(v).strip() if v is not None else None
    except Exception:  # noqa: BLE001 - a broken message has no id
        return None


class Peer(peerproc.PeerProcess):
    WHAT = 'smtp peer'
    NOUN = 'peer'
    STDERR_LOG = 'peer-stderr.log'
    SCRIPT = os.path.abspath(__file__)

    def __init__(self, dirpath, mode='accept', port=0, tls_cert=None, tls_key=None,
                 auth=None, delay=0.0, implicit_tls=False, host='127.0.0.1'):
        if mode not in MODES:
            raise ValueError('mode %r: one of %s' % (mode, ', '.join(MODES)))
        super().__init__(dirpath, port, host)
        self.mode = mode
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.auth = tuple(auth) if auth else None
        self.delay = float(delay)
        self.implicit_tls = implicit_tls

    # -- life cycle (start, stop, with: peerproc) ----------------------------

    @property
    def url(self):
        return '%s://%s:%d' % ('smtps' if self.implicit_tls else 'smtp', self.host, self.port)

    def config(self):
        if self.mode not in MODES:
            raise ValueError('mode %r' % self.mode)
        return {'dir': self.dir, 'mode': self.mode, 'port': self.port, 'host': self.host,
                'tls_cert': self.tls_cert, 'tls_key': self.tls_key,
                'auth': list(self.auth) if self.auth else None, 'delay': self.delay,
                'implicit_tls': self.implicit_tls}

    def clear(self):
        self.check_stopped('clear()')
        for name in os.listdir(self.dir):
            if name == LOG or (name.startswith('data-') and name.endswith('.eml')):
                os.unlink(os.path.join(self.dir, name))

    # -- what was seen --------------------------------------------------------

    def _data(self, ev):
        with open(os.path.join(self.dir, ev['file']), 'rb') as f:
            data = f.read()
        d = {k: ev.get(k) for k in ('t', 'conn', 'mail_from', 'rcpt', 'message_id', 'code',
                                    'reply', 'queue_id', 'tls', 'auth', 'dropped')}
        d['dropped'] = bool(d['dropped'])
        d['data'] = data
        return d

    def received(self):
        return [self._data(ev) for ev in self.events() if ev['cmd'] == 'DATA']

    def messages(self):
        return [self._data(ev) for ev in self.events() if _accepted(ev)]

    def accepted_count(self):
        """len(messages()), from the log alone (cheap to poll)."""
        return sum(1 for ev in self.events() if _accepted(ev))

    def max_concurrent_sessions(self):
        return max([ev['open'] for ev in self.events() if ev['cmd'] == 'CONNECT'] or [0])

    def connections(self):
        return len({ev['conn'] for ev in self.events() if ev['cmd'] == 'CONNECT'})


# ---- the server (runs in the subprocess) ---------------------------------------


class _State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = cfg['dir']
        self.mode = cfg['mode']
        self.delay = cfg['delay']
        self.auth = tuple(cfg['auth']) if cfg['auth'] else None
        old = peerproc.read_log(self.dir)
        # what survives a restart
        self.tempfailed = {ev['rcpt'].lower() for ev in old
                           if ev['cmd'] == 'RCPT' and ev.get('code') == 451}
        self.data_tempfailed = {ev['message_id'] for ev in old
                                if ev['cmd'] == 'DATA' and ev.get('code') == 451}
        self.dropped = {ev['message_id'] for ev in old if ev['cmd'] == 'DATA' and ev.get('dropped')}
        self.conn_seq = max([ev['conn'] for ev in old if isinstance(ev.get('conn'), int)] or [0])
        self.data_seq = sum(1 for ev in old if ev['cmd'] == 'DATA')
        self.open = 0
        self.log = peerproc.JsonlLog(self.dir).write


def _serve(cfg):
    import ssl

    from aiosmtpd.smtp import SMTP, AuthResult

    st = _State(cfg)

    def tls_of(server):
        tr = server.transport
        return bool(tr is not None and tr.get_extra_info('ssl_object') is not None)

    class Handler:
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            st.log(cmd='MAIL', conn=server.conn_id, code=250, reply='250 2.1.0 Ok',
                   mail_from=address, tls=tls_of(server))
            return '250 2.1.0 Ok'

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            key = address.lower()
            local = key.split('@', 1)[0]
            if st.mode == 'tempfail-always' or (st.mode == 'tempfail-once'
                                               and key not in st.tempfailed):
                st.tempfailed.add(key)
                reply = TEMPFAIL
            elif st.mode == 'reject' and local.startswith('bad'):
                reply = NOUSER
            else:
                envelope.rcpt_tos.append(address)
                reply = '250 2.1.5 Ok'
            st.log(cmd='RCPT', conn=server.conn_id, code=int(reply[:3]), reply=reply,
                   rcpt=address, mail_from=envelope.mail_from, tls=tls_of(server))
            return reply

        async def handle_DATA(self, server, session, envelope):
            data = envelope.original_content
            if isinstance(data, str):  # never with decode_data=False
                data = data.encode('utf-8', 'surrogateescape')
            mid = message_id_of(data)
            st.data_seq += 1
            name = 'data-%06d.eml' % st.data_seq
            with open(os.path.join(st.dir, name), 'wb') as f:
                f.write(data)
            common = dict(cmd='DATA', conn=server.conn_id, file=name, message_id=mid,
                          mail_from=envelope.mail_from, rcpt=list(envelope.rcpt_tos),
                          size=len(data), tls=tls_of(server), auth=server.login)
            if st.delay:
                await asyncio.sleep(st.delay)
            if st.mode == 'drop-after-data' and mid not in st.dropped:
                st.dropped.add(mid)
                st.log(code=None, reply=None, dropped=True, **common)
                server.transport.close()
                await asyncio.sleep(3600)  # connection_lost cancels this
                return '421 4.4.2 never sent'
            if st.mode == 'hang-after-data':
                st.log(code=None, reply=None, hung=True, **common)
                await asyncio.sleep(3600)  # connection_lost cancels this
                return '421 4.4.2 never sent'
            if st.mode == 'tempfail-data-once' and mid not in st.data_tempfailed:
                st.data_tempfailed.add(mid)
                st.log(code=451, reply=TEMPFAIL, **common)
                return TEMPFAIL
            qid = uuid.uuid4().hex[:12].upper()
            reply = '250 2.0.0 Ok: queued as %s' % qid
            st.log(code=250, reply=reply, queue_id=qid, **common)
            return reply

        def handle_STARTTLS(self, server, session, envelope):
            st.log(cmd='STARTTLS', conn=server.conn_id, code=220)
            return True

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode('utf-8', 'replace')
        ok = (st.auth is not None and login == st.auth[0]
              and auth_data.password.decode('utf-8', 'replace') == st.auth[1])
        st.log(cmd='AUTH', conn=server.conn_id, mechanism=mechanism, login=login,
               code=235 if ok else 535, tls=tls_of(server))
        if ok:
            server.login = login
        return AuthResult(success=ok, handled=False)

    class PeerSMTP(SMTP):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.conn_id = None
            self.login = None
            self._lost = False

        def connection_made(self, transport):
            if self.conn_id is None:  # not again after STARTTLS
                st.conn_seq += 1
                self.conn_id = st.conn_seq
                st.open += 1
                st.log(cmd='CONNECT', conn=self.conn_id, open=st.open)
            super().connection_made(transport)

        async def smtp_AUTH(self, arg):
            st.log(cmd='AUTH-CMD', conn=self.conn_id, tls=tls_of(self),
                   mechanism=(arg or '').split(' ', 1)[0].upper())
            return await super().smtp_AUTH(arg)

        def connection_lost(self, error):
            if self.conn_id is not None and not self._lost:
                self._lost = True
                st.open -= 1
                st.log(cmd='DISCONNECT', conn=self.conn_id, open=st.open)
            super().connection_lost(error)

    ctx = None
    if cfg['tls_cert']:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cfg['tls_cert'], cfg['tls_key'])

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler()

    def factory():
        kw = dict(hostname='smtp-peer.test', decode_data=False, loop=loop)
        if ctx is not None and not cfg['implicit_tls']:
            kw.update(tls_context=ctx, require_starttls=True)
        if st.auth:
            kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
        return PeerSMTP(handler, **kw)

    import logging
    import warnings
    warnings.simplefilter('ignore')
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger('mail.log').setLevel(logging.ERROR)

    server = loop.run_until_complete(loop.create_server(
        factory, host=cfg['host'], port=cfg['port'], reuse_address=True, backlog=256,
        ssl=ctx if cfg['implicit_tls'] else None))
    port = server.sockets[0].getsockname()[1]
    st.log(cmd='START', conn=None, pid=os.getpid(), port=port, mode=st.mode)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_signal_handler(signal.SIGINT, lambda: stop.done() or stop.set_result(None))
    parent = os.getppid()

    def orphan_check():  # the test process died without stop(): go too
        if os.getppid() != parent:
            stop.done() or stop.set_result(None)
        else:
            loop.call_later(1.0, orphan_check)
    loop.call_later(1.0, orphan_check)
    peerproc.ready(port)
    loop.run_until_complete(stop)
    server.close()
    os._exit(0)  # open sessions are cut; everything is already in the log


if __name__ == '__main__':
    peerproc.serve_main(_serve, 'usage: smtp_peer.py --serve CONFIG_JSON (use the Peer class)')
