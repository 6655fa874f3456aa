#!/usr/bin/python3
"""End-to-end: SMTP security and faults (issue 17, SPEC §4, §5, §8) against
a real SMTP server (smtp_peer.py, aiosmtpd in a subprocess).

- The password never goes over an unencrypted connection: a server that
  does not offer STARTTLS (or a man in the middle who strips it) while it
  offers AUTH, `starttls = never` with a username: the run stops (exit 2),
  the server never sees an AUTH command, the spool is intact; only
  `[smtp] allow_plaintext_auth = yes` lets it through.
- `starttls = always` fails when STARTTLS is not offered.
- Certificates are verified (`[smtp] verify = yes`): a certificate for
  another name or one no CA of `ca_file` signed stops the run (exit 2,
  spool intact); `verify = no` accepts them.
- A server that reads the whole message and never answers: the message is
  deferred after `[smtp] timeout`, exit 75, and a later run sends it once.

Certificates are made per test class with the `openssl` command: a test CA,
a server certificate it signed for 127.0.0.1/localhost, one it signed for
another name, and a self-signed one for 127.0.0.1."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402,F401
import test_smtp  # noqa: E402

DATE = test_smtp.DATE
ADDRS = ['compta@lefevre.example', 'direction@lefevre.example']
CLEAR = ('does not offer STARTTLS: refusing to send the password in clear '
         '(set [smtp] allow_plaintext_auth = yes for a relay on this host)')
EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']


def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class SecurityCase(test_smtp.SmtpCase):
    @classmethod
    def setUpClass(cls):
        cls._certs = tempfile.TemporaryDirectory(prefix='postier-e2e-sec-')
        d = cls.certdir = cls._certs.name

        def p(name):
            return os.path.join(d, name)
        cls.ca = p('ca.pem')
        openssl('req', '-x509', *EC, '-keyout', p('ca.key'), '-out', cls.ca, '-days', '3',
                '-subj', '/CN=postier test CA',
                '-addext', 'basicConstraints=critical,CA:TRUE',
                '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
        cls.certs = {}
        for name, san in (('good', 'IP:127.0.0.1,DNS:localhost'),
                          ('wrongname', 'DNS:mail.elsewhere.example')):
            openssl('req', '-x509', *EC, '-keyout', p(name + '.key'), '-out', p(name + '.pem'),
                    '-days', '3', '-CA', cls.ca, '-CAkey', p('ca.key'),
                    '-subj', '/CN=' + san.split(',')[0].split(':')[1],
                    '-addext', 'subjectAltName=' + san,
                    '-addext', 'basicConstraints=critical,CA:FALSE')
            cls.certs[name] = (p(name + '.pem'), p(name + '.key'))
        openssl('req', '-x509', *EC, '-keyout', p('self.key'), '-out', p('self.pem'),
                '-days', '3', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1')
        cls.certs['selfsigned'] = (p('self.pem'), p('self.key'))

    def tls_peer(self, cert='good', **kw):
        c, k = self.certs[cert]
        return self.start_peer(tls_cert=c, tls_key=k, **kw)

    def auth_commands(self, peer):
        return [e for e in peer.events() if e['cmd'] in ('AUTH-CMD', 'AUTH')]

    def assert_nothing_sent(self, peer):
        """No message reached the server, every one is still queued in the
        spool, and the history has nothing but their `queued` rows."""
        self.assertEqual(peer.received(), [])
        self.assertNotEqual(os.listdir(self.path('spool', 'queue')), [], 'spool emptied')
        for a in ADDRS:
            self.assertEqual(self.events_of(a), [('queued', None, None)])

    def assert_one_line(self, r, *words):
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        for w in words:
            self.assertIn(w, lines[0])


class Credentials(SecurityCase):
    def test_stripped_starttls_keeps_the_password(self):
        """A server (or a man in the middle) that offers AUTH but not
        STARTTLS: with starttls = auto and a username, not a byte of the
        password goes out; the messages wait in the spool."""
        self.book(ADDRS)
        peer = self.start_peer(auth=('postier', 's3cret'))
        self.smtp_config(peer, username='postier', password='s3cret')
        r = self.fails('run', '--date', DATE, rc=2, contains=CLEAR)
        self.assert_one_line(r, peer.url)
        self.assertEqual(self.auth_commands(peer), [])
        self.assertEqual([e for e in peer.events() if e['cmd'] == 'MAIL'], [])
        self.assert_nothing_sent(peer)
        # a relay on this host: the administrator says so, and it goes
        self.smtp_config(peer, username='postier', password='s3cret',
                         allow_plaintext_auth='yes')
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, ADDRS)
        self.assertEqual([m['auth'] for m in msgs], ['postier'] * 2)
        self.assertEqual({e['tls'] for e in self.auth_commands(peer)}, {False})
        self.verify_history()

    def test_starttls_never_with_a_username_is_refused_before_connecting(self):
        self.book(ADDRS)
        peer = self.start_peer(auth=('postier', 's3cret'))
        self.smtp_config(peer, username='postier', password='s3cret', starttls='never')
        r = self.fails('run', '--date', DATE, rc=2, contains='allow_plaintext_auth')
        self.assert_one_line(r, 'starttls = never', 'username')
        self.assertEqual([e for e in peer.events() if e['cmd'] == 'CONNECT'], [])
        self.assertEqual(self.history(), [])
        self.smtp_config(peer, username='postier', password='s3cret', starttls='never',
                         allow_plaintext_auth='yes')
        self.run_job(rc=0)
        self.assert_delivered_once(peer, ADDRS)
        self.verify_history()

    def test_starttls_always_fails_when_not_offered(self):
        self.book(ADDRS)
        peer = self.start_peer()
        self.smtp_config(peer, starttls='always')
        r = self.fails('run', '--date', DATE, rc=2, contains='does not offer STARTTLS')
        self.assert_one_line(r, peer.url)
        self.assert_nothing_sent(peer)
        # without a username, auto still talks in clear to such a server
        self.smtp_config(peer)
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, ADDRS)
        self.assertEqual([m['tls'] for m in msgs], [False, False])

    def test_password_goes_over_verified_starttls(self):
        self.book(ADDRS)
        peer = self.tls_peer(auth=('postier', 's3cret'))
        self.smtp_config(peer, username='postier', password='s3cret', ca_file=self.ca)
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, ADDRS)
        self.assertEqual([(m['tls'], m['auth']) for m in msgs], [(True, 'postier')] * 2)
        cmds = self.auth_commands(peer)
        self.assertNotEqual(cmds, [])
        self.assertEqual({e['tls'] for e in cmds}, {True})


class Certificates(SecurityCase):
    def check_refused_then_unverified(self, cert):
        self.book(ADDRS)
        peer = self.tls_peer(cert)
        self.smtp_config(peer, ca_file=self.ca)
        r = self.fails('run', '--date', DATE, rc=2, contains='certificate')
        self.assert_one_line(r, peer.url)
        self.assertEqual([e for e in peer.events() if e['cmd'] == 'MAIL'], [])
        self.assert_nothing_sent(peer)
        # verify = no: the administrator accepts any certificate
        self.smtp_config(peer, ca_file=self.ca, verify='no')
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, ADDRS)
        self.assertEqual([m['tls'] for m in msgs], [True, True])
        self.verify_history()

    def test_certificate_for_another_name(self):
        self.check_refused_then_unverified('wrongname')

    def test_self_signed_certificate(self):
        self.check_refused_then_unverified('selfsigned')

    def test_unverified_certificate_never_gets_the_password(self):
        # verify = no with a username: a man in the middle would get it
        self.book(ADDRS)
        peer = self.tls_peer('selfsigned', auth=('postier', 's3cret'))
        self.smtp_config(peer, username='postier', password='s3cret', verify='no')
        r = self.fails('run', '--date', DATE, rc=2, contains='verify = no with a username')
        self.assert_one_line(r, peer.url)
        self.assertEqual([e for e in peer.events() if e['cmd'] == 'CONNECT'], [])
        self.assertEqual(self.history(), [])
        self.smtp_config(peer, username='postier', password='s3cret', verify='no',
                         allow_plaintext_auth='yes')
        self.run_job(rc=0)
        self.assert_delivered_once(peer, ADDRS)

    def test_certificate_signed_by_ca_file(self):
        self.book(ADDRS)
        peer = self.tls_peer('good')
        self.smtp_config(peer, ca_file=self.ca, verify='yes')
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, ADDRS)
        self.assertEqual([m['tls'] for m in msgs], [True, True])


class Faults(SecurityCase):
    def test_server_hangs_after_data(self):
        """The server reads each message whole and never replies: after
        [smtp] timeout the message is deferred (it may have been accepted:
        `ambiguous`), the run exits 75, and the next run, against a server
        that answers, sends each once.  One connection: the one the silent
        server still holds is not used again (the next MAIL FROM would be
        read by a server still in DATA, and its late reply taken for the
        reply to another command)."""
        self.book(ADDRS)
        peer = self.start_peer('hang-after-data')
        self.smtp_config(peer, timeout=2, max_attempts=1, connections=1)
        t0 = time.monotonic()
        r = self.run_job(rc=75)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 2, 'deferred before [smtp] timeout')
        self.assertLess(took, 60)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (2, 0, 2, 0))
        hung = peer.received()
        self.assertEqual(sorted(a for m in hung for a in m['rcpt']), sorted(ADDRS))
        self.assertEqual([m['code'] for m in hung], [None, None])
        self.assertEqual(len({m['conn'] for m in hung}), 2, 'a hung connection was used again')
        for a in ADDRS:
            ev = self.events_of(a)
            self.assertEqual([x[0] for x in ev], ['queued', 'deferred'], ev)
            self.assertEqual(ev[1][1], 'ambiguous', ev)
        self.assertNotEqual(os.listdir(self.path('spool', 'queue')), [], 'spool emptied')
        peer.stop()
        peer.mode = 'accept'
        peer.start()
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred']), (0, 2, 0))
        self.assert_delivered_once(peer, ADDRS)
        resent = {m['message_id'] for m in peer.messages()}
        self.assertEqual(resent, {m['message_id'] for m in hung})
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.verify_history()


if __name__ == '__main__':
    unittest.main()
