"""End-to-end: the terminal and encodings as users meet them (issue 16,
follow-ups to points 12-14): listings never wider than the terminal with the
useful columns kept, CR/LF from data never breaking a line, Windows-1252
files read whole, long names cut at a character boundary.
"""

import os
import pty
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import test_terminal as tt  # noqa: E402
from test_terminal import LONG_COMPANY, LONG_EMAIL, display_width  # noqa: E402
import test_smtp  # noqa: E402

WIDTHS = (60, 72, 80, 100, 120, 160, 200)


class Term2Case(e2e.PostierCase):

    in_pty = tt.TerminalCase.in_pty
    assert_clean = tt.TerminalCase.assert_clean

    # -- listings fit every terminal, useful columns cut last ----------------

    def busy_book(self):
        self.add_party('C001', 'Lefèvre et Fils Réunis, Succursale de Montpellier-Est')
        for i in range(4):
            self.add_contact('--party', 'C001', '--last-name', 'Lefèvre-Dumoulin%d' % i,
                             '--first-name', 'Marie-Élodie', '--company', LONG_COMPANY,
                             '--function', 'Responsable de la comptabilité fournisseurs',
                             '--email', '%d.%s' % (i, LONG_EMAIL), '--flags', 'invoice',
                             '--phones', '+33612345678', '--valid-until', '2030-01-01',
                             '--note', 'Préfère être appelée l\'après-midi ' * 3)
        # one with no e-mail: a `skipped` row with a reason on the first page
        self.add_contact('--party', 'C001', '--last-name', 'Sans-Courriel', '--flags', 'invoice',
                         '--phones', '+33612345679')
        self.write('d.csv', 'ref,party_ref,amount\nFACT-2026-000123,C001,12\n'
                   'FACT-2026-000124,C001,13\n')
        self.ok('documents', 'import', self.path('d.csv'), '--type', 'invoice')
        self.write_template('info', 'fr.eml.tmpl', 'Subject: Bonjour\n\nBonjour {{contact.name}}\n')
        self.ok('campaign', 'new', 'rentree-2026-clients-fideles', '--template', 'info',
                '--channel', 'email', '--purpose', 'service')

    def assert_fits(self, out, cols, what):
        for line in out.splitlines():
            self.assertLessEqual(display_width(line), cols,
                                 '%s: a line wider than %d:\n%s' % (what, cols, out))

    def test_every_listing_fits_every_width(self):
        self.busy_book()
        self.run_postier('run')
        for args in (('contacts', 'list'), ('history', 'list'), ('parties', 'list'),
                     ('documents', 'list'), ('campaign', 'list'),
                     ('history', 'list', '--per-page', '4', '--status', 'sent')):
            for cols in WIDTHS:
                rc, out, err = self.in_pty(*args, cols=cols)
                self.assertEqual(rc, 0, out + err)
                self.assert_fits(out, cols, ' '.join(args))

    def test_history_keeps_the_useful_columns(self):
        self.busy_book()
        self.run_postier('run')
        rc, out, _ = self.in_pty('history', 'list', cols=80)
        self.assertEqual(rc, 0, out)
        self.assert_fits(out, 80, 'history list')
        header = out.splitlines()[0].split()
        for col in ('event', 'address', 'document_ref', 'reason'):
            self.assertIn(col, header, out)
        for col in ('hash', 'template_sha256', 'message_id'):
            self.assertNotIn(col, header, out)
        self.assertIn('contact_added', out)  # the event is whole
        self.assertRegex(out, r'\d+ columns hidden: --wide shows all', out)
        rc, out, _ = self.in_pty('history', 'list', cols=120)
        self.assertIn('0.service.comptabilite', out)  # the address is readable
        rc, out, _ = self.in_pty('history', 'list', '--wide', cols=80)
        self.assertIn('template_sha256', out.splitlines()[0])
        self.assertNotIn('columns hidden', out)

    def test_contacts_list_keeps_the_name(self):
        self.busy_book()
        rc, out, _ = self.in_pty('contacts', 'list', cols=80)
        self.assertEqual(rc, 0, out)
        self.assert_fits(out, 80, 'contacts list')
        self.assertIn('Marie-Élodie Lefèvre-Dumoulin0', out)
        self.assertIn('columns hidden', out)

    def test_piped_listing_is_unchanged(self):
        self.busy_book()
        r = self.ok('history', 'list')
        self.assertIn('template_sha256', r.out.splitlines()[0])
        self.assertNotIn('hidden', r.out)

    # -- Windows-1252 files read whole ---------------------------------------

    def import_bytes(self, name, data):
        with open(self.path(name), 'wb') as f:
            f.write(data)
        return self.path(name)

    def test_bytes_undefined_in_windows_1252_are_refused(self):
        self.add_party('P002', 'Acme')
        for byte in (b'\x81', b'\x8d', b'\x8f', b'\x90', b'\x9d'):
            p = self.import_bytes('undef.csv', b'party_ref,last_name,email\n'
                                  b'P002,Only\x80' + byte + b',o@exemple.fr\n')
            r = self.fails('contacts', 'import', p,
                           contains=('undef.csv:2', '0x%02X' % byte[0]))
            self.assertIn('Windows-1252', r.err)
            self.assertEqual(self.all_contacts(), [])

    def test_windows_1252_letter_then_punctuation_imports(self):
        self.add_party('C1', 'Acme')
        names = ['ÉCOLE É…', 'Ç° Gérard', 'MÜLLER É»']
        p = self.import_bytes('cp.csv', ('party_ref,last_name,email\n' + ''.join(
            'C1,%s,%d@exemple.fr\n' % (n, i) for i, n in enumerate(names))).encode('cp1252'))
        self.ok('contacts', 'import', p)
        self.assertEqual(sorted(c['last_name'] for c in self.all_contacts()), sorted(names))
        # The same pair alone in a file is still Windows-1252.
        p = self.import_bytes('cp2.csv', 'party_ref,last_name,email\nC1,Zoé É…,z@exemple.fr\n'
                              .replace('Zoé ', '').encode('cp1252'))
        self.ok('contacts', 'import', p)
        self.assertIn('É…', [c['last_name'] for c in self.all_contacts()])
        # UTF-8 in another script is still UTF-8.
        p = self.import_bytes('ru.csv', 'party_ref,last_name,email\nC1,Дмитриев,d@exemple.fr\n'
                              .encode('utf-8'))
        self.ok('contacts', 'import', p)
        self.assertIn('Дмитриев', [c['last_name'] for c in self.all_contacts()])

    # -- long names cut at a character boundary ------------------------------

    def shipped_templates(self):
        with open(self.config, 'a') as f:
            f.write('\n[store]\ntemplates = %s\n[sender]\nname = Cabinet Durand\n'
                    'email = contact@cabinet-durand.fr\n' % os.path.join(e2e.SRC, 'templates'))

    def test_a_long_name_is_sent_with_a_valid_to_header(self):
        import email
        import email.policy
        import glob
        self.shipped_templates()
        self.add_party('C1', 'Acme')
        self.add_contact('--party', 'C1', '--first-name', 'Zoe', '--last-name', 'é' * 200,
                         '--email', 'zoe@exemple.fr', '--flags', 'invoice')
        self.write('d.csv', 'ref,party_ref,amount\nF1,C1,12\n')
        self.ok('documents', 'import', self.path('d.csv'), '--type', 'invoice')
        r = self.run_postier('run')
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([h['event'] for h in self.history_rows() if h['document_ref'] == 'F1'],
                         ['queued', 'sent'], r)
        raws = [open(p, 'rb').read() for p in glob.glob(self.path('spool', 'sent', 'new', '*'))]
        self.assertEqual(len(raws), 1)
        msg = email.message_from_bytes(raws[0], policy=email.policy.default)
        self.assertEqual(msg.defects, [])
        name = msg['To'].addresses[0].display_name
        self.assertTrue(name.startswith('Zoe éééé'), name)
        self.assertNotIn('\ufffd', name)
        # The history is valid UTF-8 (the database's text, read strictly).
        for (text,) in self.sql("SELECT CAST(coalesce(server_reply, '') || coalesce(reason, '') "
                                "|| coalesce(address, '') AS BLOB) FROM history"):
            text.decode('utf-8')

    # -- CR/LF from data never break a line ----------------------------------

    def crlf_book(self):
        self.shipped_templates()
        self.add_party('C1', 'Acme')
        self.write('c.csv', 'party_ref,first_name,last_name,email,flags,note\n'
                   'C1,Eve,Durand,eve@exemple.fr,invoice,'
                   '"ok\nemail          boss@legit.fr"\n')
        self.ok('contacts', 'import', self.path('c.csv'))
        # saving refuses a line break in a name: a database written before did not
        self.sql("UPDATE contact SET first_name = ? WHERE party_id = ?",
                 ('Eve\r\nBcc: x@evil.example', self.party_id('C1')))
        self.write('d.csv', 'ref,party_ref,amount\n"F1\nF2",C1,12\n')
        self.ok('documents', 'import', self.path('d.csv'), '--type', 'invoice')
        return self.all_contacts()[0]['id']

    def assert_one_line_each(self, text, what, *starts):
        for line in text.splitlines():
            self.assertFalse(line.startswith(('Bcc:', 'F2')), '%s: a line from data:\n%s'
                             % (what, text))
        self.assertNotIn('\r', text.replace('\r\n', '\n'), what)

    def test_dry_run_lines_stay_one_line(self):
        self.crlf_book()
        r = self.run_postier('run', '--dry-run')  # the name fails the message
        self.assert_one_line_each(r.out, 'run --dry-run')
        self.assertIn('F1^JF2', r.out)
        rc, out, err = self.in_pty('run', '--dry-run')
        self.assert_one_line_each(out, 'run --dry-run on a terminal')
        self.run_postier('run')  # fails: the name holds a line break
        r = self.run_postier('retry', '--dry-run')
        self.assertIn('F1^JF2', r.out, r)
        self.assert_one_line_each(r.out, 'retry --dry-run')
        self.tdir = self.write_template('info', 'fr.eml.tmpl', 'Subject: Bonjour\n\nBonjour\n')
        self.append_config('[store]\ntemplates = %s\n' % self.path('templates'))
        self.ok('campaign', 'new', 'c1', '--template', 'info', '--channel', 'email',
                '--purpose', 'service')
        r = self.ok('campaign', 'preview', 'c1')
        self.assert_one_line_each(r.out, 'campaign preview')
        self.assertIn('Eve^M^JBcc: x@evil.example', r.out)

    def test_history_rows_and_errors_stay_one_line(self):
        self.crlf_book()
        self.run_postier('run')
        r = self.ok('history', 'list')
        self.assert_one_line_each(r.out, 'history list')
        self.assertIn('F1^JF2', r.out)
        r = self.ok('contacts', 'list')
        self.assert_one_line_each(r.out, 'contacts list')
        self.write('bad.csv', 'party_ref,last_name,email\nC1,"Bad\nF2 name",not-an-address\n')
        r = self.fails('contacts', 'import', self.path('bad.csv'))
        self.assert_one_line_each(r.err, 'import error')
        self.write('bad.csv', 'ref,party_ref,amount\nF3,"C9\nF2: forged",12\n')
        r = self.fails('documents', 'import', self.path('bad.csv'), '--type', 'invoice')
        self.assert_one_line_each(r.err, 'documents import error')
        self.assertIn("C9^JF2: forged", r.err)

    def test_show_indents_continuation_lines(self):
        cid = self.crlf_book()
        r = self.ok('contacts', 'show', cid)
        lines = r.out.splitlines()
        emails = [l for l in lines if l.startswith('email')]
        self.assertEqual(len(emails), 1, r.out)
        self.assertIn('eve@exemple.fr', emails[0])
        note = lines.index([l for l in lines if l.startswith('note')][0])
        self.assertEqual(lines[note + 1], ' ' * 15 + 'email          boss@legit.fr', r.out)
        self.run_postier('run')
        for h in self.history_rows():
            r = self.ok('history', 'show', h['id'])
            self.assert_one_line_each(r.out, 'history show')


class Interrupt(test_smtp.SmtpCase):

    def test_ctrl_c_note_starts_its_own_line(self):
        self.book(['c%02d@lefevre.example' % i for i in range(4)], docs=5)
        peer = self.start_peer(delay=0.3)
        self.smtp_config(peer, connections=1)
        master, slave = pty.openpty()
        p = subprocess.Popen(self.postier_argv('run', '--date', test_smtp.DATE), cwd=self.tmp,
                             env=self.postier_env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.addCleanup(os.close, master)
        err = b''
        deadline = time.monotonic() + 30
        while b'sent ' not in err and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                err += os.read(master, 4096)
        self.assertIn(b'sent ', err, 'no progress line')
        p.send_signal(signal.SIGINT)
        out = p.stdout.read()
        p.wait(timeout=60)
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:
                break
            if not b:
                break
            err += b
        text = err.decode()
        self.assertIn('postier: stopping', text, text)
        before = text[:text.index('postier: stopping')]
        self.assertTrue(before.endswith('\n'), 'on the progress line: %r' % text)
        self.assertEqual(p.returncode, 75, (out, text))


if __name__ == '__main__':
    e2e.main()
