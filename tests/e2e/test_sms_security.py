#!/usr/bin/python3
"""End-to-end: no SMS gateway password in clear (issue 17, SPEC §4).

The Kannel username/password travel in the sendsms query string and the
JSON gateway's token in an `Authorization: Bearer` header: over http:// both
go in clear.  As with SMTP (`[smtp] allow_plaintext_auth`), a run with such
credentials and an http:// gateway stops before queueing or sending anything
(exit 2, one line naming the gateway, the spool and the history as they
were), unless `[sms] allow_plaintext_auth = yes` (a gateway on this host).
Without credentials an http:// gateway is used as before.  The password never
shows on stderr, even when it sits in the URL (http://user:pass@host/…)."""
import http.server
import os
import ssl
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402,F401
import test_sms  # noqa: E402
from e2e import free_port  # noqa: E402

DATE = test_sms.DATE
NUMBER = '+33612345678'
CLEAR = ('in clear (use https:// or set '
         '[sms] allow_plaintext_auth = yes for a gateway on this host)')


class SmsCredentials(test_sms.SmsCase):
    def setUp(self):
        super().setUp()
        self.sms_template('Commande {{doc.ref}} prête.')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78')])
        (self.ref,) = self.docs('order', ['x'])

    def spool_queue(self):
        """{name: bytes} of spool/queue (recursively)."""
        top, out = self.path('spool', 'queue'), {}
        for d, _, files in os.walk(top):
            for f in files:
                with open(os.path.join(d, f), 'rb') as fh:
                    out[os.path.relpath(os.path.join(d, f), top)] = fh.read()
        return out

    def refused(self, url, secret, what='password'):
        """A run that must stop on the plaintext rule: exit 2, one line
        naming the gateway and what it would send (without the secret)."""
        r = self.fails('run', '--date', DATE, rc=2,
                       contains=('refusing to send the SMS gateway %s ' % what + CLEAR))
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertIn(url, lines[0])
        self.assertNotIn(secret, r.err + r.out)
        return r

    def test_kannel_password_over_http_is_refused_and_the_spool_kept(self):
        port = free_port()
        url = 'http://127.0.0.1:%d/cgi-bin/sendsms' % port
        # a first run (allowed) while the gateway is down: the SMS waits
        self.config_sms(url, transport='kannel', max_attempts=2, timeout=5)
        self.fails('run', '--date', DATE, rc=75, contains='cannot connect')
        rows, queue = self.history_rows(), self.spool_queue()
        self.assertEqual([e[0] for e in self.events_of(NUMBER)][:2], ['queued', 'deferred'])
        gw = self.start_gw('kannel', port=port, username='kuser', password='kpass')
        for allow in (None, 'no'):  # the default, and said
            self.config_sms(gw, allow_plaintext_auth=allow)
            self.refused('http://127.0.0.1:%d/' % port, 'kpass')
            self.assertEqual(gw.requests(), [])
            self.assertEqual(self.history_rows(), rows)
            self.assertEqual(self.spool_queue(), queue)
        # a gateway on this host: the administrator says so, and it goes
        self.config_sms(gw, allow_plaintext_auth='yes')
        self.run_job(rc=0)
        (req,) = gw.accepted()
        self.assert_kannel(req, NUMBER, 'Commande %s prête.' % self.ref, ucs2=True)
        self.assertEqual(self.events_of(NUMBER)[-1][0], 'sent')
        self.verify()

    def test_json_token_over_http_is_refused(self):
        gw = self.start_gw('json', token='tok123')
        self.config_sms(gw, allow_plaintext_auth=None)
        self.refused('http://127.0.0.1:%d/' % gw.port, 'tok123', 'token')
        self.assertEqual(gw.requests(), [])
        self.assertEqual(self.sms_rows(), [])
        self.config_sms(gw, allow_plaintext_auth='yes')
        self.run_job(rc=0)
        (req,) = gw.accepted()
        self.assert_json(req, NUMBER, 'Commande %s prête.' % self.ref)
        self.verify()

    def test_no_credentials_over_http_sent_as_today(self):
        for mode in ('kannel', 'json'):
            self.gw_dir = self.path('gateway-' + mode)
            gw = self.start_gw(mode)
            # the other protocol's credential is not sent, so not refused
            other = {'token': 'tok123'} if mode == 'kannel' else {'password': 'kpass'}
            keys = dict(username='', password='', token='', allow_plaintext_auth=None)
            keys.update(other)
            self.config_sms(gw, **keys)
            self.run_job(rc=0)
            (req,) = gw.accepted()
            self.assertEqual(req['to'], NUMBER)
            self.assertNotIn('tok123', str(req['headers']))
            self.assertNotIn('kpass', req['path'])
            self.assertEqual(self.events_of(NUMBER)[-1][0], 'sent')
            gw.stop()
            self.docs('order', ['y'])
        self.verify()

    def test_password_in_the_url_is_refused_at_load_and_never_shown(self):
        # it would bypass the rule above and be printed with the URL: the
        # configuration is refused as it is read, at any command
        port = free_port()
        url = 'http://kuser:s3cr3t@127.0.0.1:%d/cgi-bin/sendsms' % port
        self.config_sms(url, transport='kannel', username='', password='', token='',
                        allow_plaintext_auth='yes')
        for cmd in (('run', '--date', DATE), ('types', 'list')):
            r = self.fails(*cmd, rc=2, contains='[sms] url: a user name or password in the URL')
            self.assertNotIn('s3cr3t', r.err + r.out)
        self.config_sms('http://127.0.0.1:%d/cgi-bin/sendsms' % port, transport='kannel',
                        username='', password='', token='')
        self.assertEqual(self.sms_rows(), [])

    def test_https_gateway_certificate_is_verified(self):
        """https:// with the password is not refused, but a certificate
        no CA vouches for is: nothing reaches the gateway, nothing is sent."""
        key, cert = self.path('gw.key'), self.path('gw.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
                        '-days', '2', '-subj', '/CN=127.0.0.1', '-addext',
                        'subjectAltName=IP:127.0.0.1'], check=True, capture_output=True)
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                self.send_response(202)
                self.end_headers()

            def log_message(self, *a):
                pass
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        url = 'https://127.0.0.1:%d/cgi-bin/sendsms' % srv.server_address[1]
        self.config_sms(url, transport='kannel', allow_plaintext_auth=None)
        r = self.fails('run', '--date', DATE, rc=2, contains='certificate')
        self.assertNotIn(CLEAR, r.err)
        self.assertNotIn('kpass', r.err + r.out)
        self.assertEqual(seen, [])
        self.assertNotIn('sent', [e[0] for e in self.events_of(NUMBER)])


if __name__ == '__main__':
    unittest.main()
