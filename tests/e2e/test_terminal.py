"""End-to-end: what postier prints on a terminal (SPEC §6, issue 16 points
12-14).  Tables fit the terminal's width (a real pseudo-terminal of a set
size), `--wide` shows everything, piped output keeps its layout; nothing
from data reaches the terminal raw (ESC, BEL, CR... are shown as ^[, ^G,
^M); text stays valid UTF-8 (cuts at character boundaries, invalid
command-line bytes and mixed-encoding CSV files refused, extra cells refused).
"""

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

EVIL_NAME = 'Eve\x1b]0;pwned\x07Mallory\x1b[2J\rX'
EVIL_REF = 'F1\x1b]0;pwned\x07\x1b[2J\rX'
RAW = ('\x1b', '\x07', '\x9b')

LONG_COMPANY = 'Société Générale des Établissements Lefèvre et Fils Réunis, Succursale Øresund'
LONG_EMAIL = 'service.comptabilite.fournisseurs.etablissements@lefevre-et-fils-reunis.example.fr'


def display_width(line):
    return len(line)  # postier's data here is Latin script: one column a character


class TerminalCase(e2e.PostierCase):

    def in_pty(self, *args, cols=80, env=None):
        """Runs postier with stdout on a pseudo-terminal `cols` wide (output
        post-processing off, so bytes arrive as written); returns (exit
        status, stdout text as strictly decoded UTF-8, stderr text)."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, cols, 0, 0))
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        p = subprocess.Popen(self.postier_argv(*args), cwd=self.tmp,
                             env=self.postier_env(env), stdin=subprocess.DEVNULL,
                             stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
        err = p.stderr.read()
        p.wait(timeout=e2e.TIMEOUT)
        os.close(master)
        return p.returncode, b''.join(chunks).decode('utf-8'), err.decode('utf-8')

    def assert_clean(self, text, what):
        for c in RAW:
            self.assertNotIn(c, text, '%s carries a raw control character:\n%r' % (what, text))
        self.assertNotRegex(text, '\r(?!\n)', '%s carries a raw CR:\n%r' % (what, text))

    # -- point 12: tables fit the terminal -----------------------------------

    def book(self):
        self.add_party('C001', 'Lefèvre et Fils')
        for i in range(3):
            self.add_contact('--party', 'C001', '--last-name', 'Lefèvre%d' % i,
                             '--first-name', 'Élodie', '--company', LONG_COMPANY,
                             '--function', 'Responsable de la comptabilité fournisseurs',
                             '--email', '%d.%s' % (i, LONG_EMAIL), '--flags', 'invoice')

    def test_contacts_list_fits_the_terminal(self):
        self.book()
        for cols in (80, 120):
            rc, out, _ = self.in_pty('contacts', 'list', cols=cols)
            self.assertEqual(rc, 0, out)
            lines = out.splitlines()
            self.assertGreaterEqual(len(lines), 5, out)
            for line in lines:
                self.assertLessEqual(display_width(line), cols, 'wider than %d:\n%s' % (cols, out))
            self.assertIn('…', out)
            self.assertRegex(lines[2], r'^\s*1\s+C001\s', out)

    def test_columns_overrides_the_terminal_width(self):
        self.book()
        rc, out, _ = self.in_pty('contacts', 'list', cols=200, env={'COLUMNS': '70'})
        self.assertEqual(rc, 0, out)
        for line in out.splitlines():
            self.assertLessEqual(display_width(line), 70, out)

    def test_wide_shows_everything(self):
        self.book()
        rc, out, _ = self.in_pty('contacts', 'list', '--wide', cols=80)
        self.assertEqual(rc, 0, out)
        self.assertIn(LONG_COMPANY, out)
        self.assertIn('2.' + LONG_EMAIL, out)
        r = self.ok('contacts', 'list', '--wide')
        self.assertIn(LONG_COMPANY, r.out)

    def test_history_list_fits_the_terminal(self):
        self.book()
        self.ok('contacts', 'edit', '1', '--note', 'Préfère être appelée l\'après-midi ' * 4)
        rc, out, _ = self.in_pty('history', 'list', cols=72)
        self.assertEqual(rc, 0, out)
        self.assertIn('contact', out)
        for line in out.splitlines():
            self.assertLessEqual(display_width(line), 72, out)

    def test_piped_table_keeps_its_layout(self):
        self.book()
        r = self.ok('contacts', 'list')
        # Each cell cut at 40 columns as before, whatever the width of the line.
        self.assertIn(LONG_COMPANY[:39] + '…', r.out)
        self.assertTrue(any(len(line) > 150 for line in r.out.splitlines()), r.out)

    # -- point 13: nothing from data reaches the terminal raw ----------------

    def evil_book(self):
        self.add_party('C1', 'Acme')
        cid = self.add_contact('--party', 'C1', '--last-name', EVIL_NAME,
                               '--email', 'eve@exemple.fr', '--flags', 'invoice')
        self.write('d.csv', 'ref,party_ref,amount\n"%s",C1,12\n' % EVIL_REF)
        self.ok('documents', 'import', self.path('d.csv'), '--type', 'invoice')
        return cid

    def test_show_and_dry_run_lines_are_clean(self):
        cid = self.evil_book()
        r = self.ok('contacts', 'show', cid)
        self.assert_clean(r.out, 'contacts show')
        self.assertIn('Eve^[]0;pwned^GMallory^[[2J^MX', r.out)
        r = self.run_postier('run', '--dry-run')
        self.assert_clean(r.out + r.err, 'run --dry-run')
        self.assertIn('F1^[]0;pwned^G^[[2J^MX', r.out)
        rc, out, err = self.in_pty('run', '--dry-run')
        self.assert_clean(out + err, 'run --dry-run on a terminal')
        r = self.run_postier('run')
        self.assert_clean(r.out + r.err, 'run')

    def test_history_is_clean_json_keeps_the_data(self):
        cid = self.evil_book()
        self.run_postier('run')
        r = self.ok('history', 'list')
        self.assert_clean(r.out, 'history list')
        for h in self.history_rows():
            r = self.ok('history', 'show', h['id'])
            self.assert_clean(r.out + r.err, 'history show %d' % h['id'])
        self.assertTrue(any(h['document_ref'] == EVIL_REF for h in self.history_rows()))
        self.assertEqual(self.contact(cid)['last_name'], EVIL_NAME)
        rows = e2e.parse_csv(self.ok('contacts', 'list', '--format', 'csv').out)
        self.assertEqual(rows[1][rows[0].index('last_name')], EVIL_NAME)

    def test_import_errors_are_clean(self):
        self.add_party('C1', 'Acme')
        self.write('c.csv', 'party_ref,last_name,email,locale\n'
                   'C1,Dupont,"x\x1b[2J@\x07",fr\n'
                   'C1,Durand,d@exemple.fr,"\x1b]0;pwned\x07"\n')
        r = self.fails('contacts', 'import', self.path('c.csv'))
        self.assert_clean(r.err, 'import errors')
        self.write('d.csv', 'ref,party_ref,to\n"F\x1b[2J",C1,"\x1b]0;x\x07"\n')
        r = self.fails('documents', 'import', self.path('d.csv'), '--type', 'invoice')
        self.assert_clean(r.err, 'documents import errors')

    # -- point 14: text stays valid UTF-8 ------------------------------------

    def test_mixed_encodings_are_refused_naming_the_line(self):
        self.add_party('C1', 'Acme')
        text = ('party_ref,last_name,first_name,email\n'
                'C1,Lefèvre,Élodie,e@exemple.fr\n'
                'C1,Martin,Zoé,z@exemple.fr\n').encode('utf-8')
        text += 'C1,Müller,Gérard,g@exemple.fr\n'.encode('cp1252')
        with open(self.path('mixed.csv'), 'wb') as f:
            f.write(text)
        self.fails('contacts', 'import', self.path('mixed.csv'), contains=('mixed.csv:4',))
        self.assertEqual(self.all_contacts(), [])
        # Windows-1252 first, UTF-8 further down: the UTF-8 line is named.
        text = 'party_ref,last_name,first_name,email\n'.encode('ascii')
        text += 'C1,Lefèvre,Élodie,e@exemple.fr\nC1,Martin,Luc,m@exemple.fr\n'.encode('cp1252')
        text += 'C1,Müller,Gérard,g@exemple.fr\n'.encode('utf-8')
        with open(self.path('mixed2.csv'), 'wb') as f:
            f.write(text)
        self.fails('contacts', 'import', self.path('mixed2.csv'), contains=('mixed2.csv:4',))
        self.assertEqual(self.all_contacts(), [])
        # A file all in Windows-1252 still imports.
        with open(self.path('cp.csv'), 'wb') as f:
            f.write(('party_ref,last_name,first_name,email\n'
                     'C1,Lefèvre,Élodie,e@exemple.fr\n').encode('cp1252'))
        self.ok('contacts', 'import', self.path('cp.csv'))
        self.assertEqual([c['last_name'] for c in self.all_contacts()], ['Lefèvre'])

    def test_more_cells_than_the_header_is_an_error(self):
        self.write('p.csv', 'ref,kind,name\nC1,client,Acme\nC2,client,Dupont, Martin et Cie\n')
        self.fails('parties', 'import', self.path('p.csv'), contains=('p.csv:3',))
        self.assertEqual(self.json('parties', 'list'), [])
        self.write('p.csv', 'ref,kind,name\nC1,client,Acme\n')
        self.ok('parties', 'import', self.path('p.csv'))
        self.write('c.csv', 'party_ref,last_name,email\nC1,Dupont,d@exemple.fr\n'
                   'C1,Durand,d2@exemple.fr,0612345678\n')
        self.fails('contacts', 'import', self.path('c.csv'), contains=('c.csv:3',))
        self.assertEqual(self.all_contacts(), [])
        self.write('d.csv', 'ref,party_ref,amount\nF1,C1,12,50\n')
        self.fails('documents', 'import', self.path('d.csv'), '--type', 'invoice',
                   contains=('d.csv:2',))

    def test_invalid_utf8_arguments_are_refused(self):
        self.add_party('C1', 'Acme')
        bad = 'Lef\udce8vre'  # the byte 0xE8 alone: Windows-1252 'è'
        self.fails('contacts', 'add', '--party', 'C1', '--last-name', bad,
                   contains=('not valid UTF-8',))
        self.assertEqual(self.all_contacts(), [])
        self.fails('contacts', 'list', '--search', bad, contains=('not valid UTF-8',))

    def test_length_limits_cut_at_a_character_boundary(self):
        r = self.fails('parties', 'add', '--ref', 'A' * 19 + 'é' * 60, '--kind', 'client',
                       '--name', 'Acme')
        self.assertNotIn('\ufffd', r.err, r)
        self.assertIn('A' * 19, r.err)
        self.book()
        rc, out, _ = self.in_pty('contacts', 'list', cols=75)  # decoded strictly
        self.assertNotIn('\ufffd', out)


if __name__ == '__main__':
    e2e.main()
