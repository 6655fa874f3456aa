"""End-to-end: `contacts import FILE [--sync] [--dry-run]` (SPEC §6, §8,
seed 004) on real files: the canonical CSV and the seed-004 layout, ',' or
';', UTF-8 with or without BOM or Windows-1252, quoted separators and
newlines, CRLF; all-or-nothing with each bad row reported by line and field."""

import csv
import datetime
import io
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

C = e2e.blank_contact
CANONICAL = e2e.data_path('contacts', 'contacts_canonical.csv')
SEED_CP1252 = e2e.data_path('contacts', 'seed004_cp1252.csv')
SEED_UTF8 = e2e.data_path('contacts', 'seed004_utf8.csv')
HEADER = ','.join(e2e.CONTACT_COLUMNS)

ADMIN = 'invoice|payment_reminder|due_notice'
ALL = 'invoice|payment_reminder|due_notice|order|after_sales'

# What seed004_*.csv must give (fax, locale and id checked apart).
SEED_EXPECTED = [
    dict(party_ref='C001', last_name='Hélène Lefèvre', company='Dupont SARL',
         note="Préfère être appelée l'après-midi", function='Responsable comptabilité',
         email='h.lefevre@dupont-sarl.fr', phones='+33142685300', flags=ADMIN),
    dict(party_ref='C001', last_name='Gérard Müller', company='Dupont SARL',
         function='Magasinier', email='g.muller@dupont-sarl.fr',
         phones='+33612345678;+33698765432', flags='order'),
    dict(party_ref='C001', last_name='Françoise Ménard', company='Dupont SARL',
         note='Ancienne gérante'),
    dict(party_ref='C002', last_name='Benoît Cœur', company='Boulangerie Lefèvre',
         function='Gérant', email='benoit@boulangerie-lefevre.fr', phones='+33478123456',
         flags=ALL),
    dict(party_ref='C002', last_name='Service après-vente', company='Boulangerie Lefèvre',
         email='sav@boulangerie-lefevre.fr', flags='after_sales'),
    dict(party_ref='C002', last_name='Zoé Faure', company='Boulangerie Lefèvre',
         function='Réceptionnaire', phones='+33611223344', flags='receiver'),
]


def read_text(path, encoding='utf-8'):
    with open(path, encoding=encoding, newline='') as f:
        return f.read()


def to_csv(rows, delimiter=',', lineterminator='\n'):
    s = io.StringIO()
    w = csv.writer(s, delimiter=delimiter, lineterminator=lineterminator)
    w.writerows(rows)
    return s.getvalue()


def canonical_row(**fields):
    return [fields.get(k, '') for k in e2e.CONTACT_COLUMNS]


class ContactsImportTest(e2e.PostierCase):

    def setUp(self):
        super().setUp()
        self.setup_db()

    def setup_db(self, *db):
        """Parties, sites and types every import here refers to."""
        if db:
            self.ok(*db, 'init')
        self.ok(*db, 'parties', 'import', e2e.data_path('contacts', 'parties.csv'))
        self.ok(*db, 'addresses', 'import', e2e.data_path('contacts', 'addresses.csv'))
        self.ok(*db, 'types', 'add', '--label', 'Expert', '--code', 'exp')
        self.ok(*db, 'types', 'add', '--label', 'Garage', '--code', 'gar')

    def project_seed(self, contacts):
        """Contacts reduced to what a seed-004 row sets."""
        keys = ('party_ref', 'last_name', 'company', 'note', 'function', 'email', 'phones',
                'flags')
        out = []
        for c in contacts:
            d = {k: c[k] for k in keys}
            out.append({k: v for k, v in d.items() if v is not None})
        return out

    def assertSeedContacts(self, contacts):
        self.assertEqual(self.project_seed(contacts), SEED_EXPECTED)
        for c in contacts:
            for k in ('type', 'civility', 'first_name', 'department', 'address', 'postcode',
                      'city', 'country', 'site', 'website', 'valid_from', 'valid_until',
                      'consents'):
                self.assertIsNone(c[k], '%s of %s' % (k, c['last_name']))
        self.assertEqual(re.sub(r'\D', '', contacts[0]['fax'] or '')[-9:], '142685399')
        self.assertEqual([c['display_order'] for c in contacts], [1, 2, 3, 1, 2, 3])

    def assertImportLine(self, r, path, rows, added, updated):
        self.assertRegex(r.out, r'(?m)^(dry run: )?%s: %d rows?, %d added, %d updated'
                         % (re.escape(path), rows, added, updated), r)

    def bad_lines(self, r, path):
        """[(line, field or None)] of the per-row error lines on stderr."""
        found = []
        for line in r.err.splitlines():
            m = re.match(r"postier: %s:(\d+): (?:field '(\w+)')?" % re.escape(path), line)
            if m:
                found.append((int(m.group(1)), m.group(2)))
        return found

    # -- canonical layout -------------------------------------------------------

    def test_canonical_import(self):
        r = self.ok('contacts', 'import', CANONICAL)
        self.assertImportLine(r, CANONICAL, 5, 5, 0)
        got = self.contacts()
        faxes = [c.pop('fax') for c in got]
        self.assertEqual(re.sub(r'\D', '', faxes[0] or '')[-9:], '123456790')
        self.assertEqual(faxes[1:], [None] * 4)
        dubois_locale = got[3].pop('locale')
        self.assertIn(dubois_locale, (None, 'fr'))
        want = [
            C(id=1, party_ref='C001', type='exp', civility='M.', last_name='Moreau',
              first_name='Luc', department='Expertise', function='Expert automobile',
              email='luc.moreau@expertise-auto.fr', phones='+33612345678;+33123456789',
              address='8 avenue Foch', postcode='75116', city='Paris', country='France',
              website='https://expertise-auto.fr', note='Joignable le matin, sauf le mercredi',
              locale='fr', display_order=1, valid_from='2024-01-01',
              flags='invoice|claim_settlement', consents='esign'),
            C(id=2, party_ref='C001', civility='Mme', last_name='Rousseau', first_name='Élodie',
              department='Comptabilité', function='Comptable', email='e.rousseau@dupont-sarl.fr',
              phones='+33798765432', site='Siège',
              note='Factures : envoyer le PDF\npuis la relance "J+15"', locale='fr',
              display_order=2, flags=ADMIN, consents='commercial|partner'),
            C(id=3, party_ref='C001', type='gar', company='Garage du Centre', department='Atelier',
              email='contact@garage-du-centre.fr', phones='+33472001122',
              address='3 rue Garibaldi', postcode='69003', city='Lyon', country='France',
              site='Entrepôt Lyon', locale='fr', display_order=3, flags='order|after_sales'),
            C(id=4, party_ref='C002', civility='M.', last_name='Dubois', first_name='François',
              function='Gérant', email='francois.dubois@boulangerie-lefevre.fr',
              phones='+33698765432', display_order=1, flags='order|receiver',
              consents='sms_marketing'),
            C(id=5, party_ref='E001', civility='Mr', last_name='Smith', first_name='Jane',
              company='Acme Ltd', department='Accounts payable',
              email='jane.smith@acme.example.com', phones='+442079460000',
              country='United Kingdom', locale='en', display_order=1, flags='invoice'),
        ]
        for w in want:
            del w['fax']
        del want[3]['locale']
        self.assertEqual(got, want)

    def test_canonical_any_column_order_semicolon_bom_crlf(self):
        text = read_text(CANONICAL)
        rows = list(csv.reader(io.StringIO(text, newline='')))
        order = list(reversed(range(len(rows[0]))))
        shuffled = [[r[i] for i in order] for r in rows]
        f = self.write('annuaire.csv', b'\xef\xbb\xbf' +
                       to_csv(shuffled, ';', '\r\n').encode('utf-8'))
        r = self.ok('contacts', 'import', f)
        self.assertImportLine(r, f, 5, 5, 0)
        got = self.contacts()
        self.assertEqual([c['last_name'] for c in got],
                         ['Moreau', 'Rousseau', None, 'Dubois', 'Smith'])
        self.assertEqual(got[1]['note'], 'Factures : envoyer le PDF\npuis la relance "J+15"')
        self.assertEqual(got[0]['note'], 'Joignable le matin, sauf le mercredi')
        self.assertEqual(got[0]['party_ref'], 'C001')     # no BOM glued to a header
        self.assertEqual(got[2]['company'], 'Garage du Centre')
        self.assertEqual(got[1]['first_name'], 'Élodie')

    def test_canonical_minimal_columns_and_quoting(self):
        f = self.write('min.csv',
                       'last_name;party_ref;note;phones\r\n'
                       'Petit;C001;"Bureau 2; porte B";"06 11 22 33 44;01 42 68 53 00"\r\n'
                       '"Le ""Grand"" Garage";C002;"Ligne 1\r\nLigne 2; suite";\r\n')
        r = self.ok('contacts', 'import', f)
        self.assertImportLine(r, f, 2, 2, 0)
        got = self.contacts()
        self.assertEqual([(c['last_name'], c['party_ref']) for c in got],
                         [('Petit', 'C001'), ('Le "Grand" Garage', 'C002')])
        self.assertEqual(got[0]['note'], 'Bureau 2; porte B')
        self.assertEqual(got[0]['phones'], '+33611223344;+33142685300')
        self.assertIn(got[1]['note'], ('Ligne 1\r\nLigne 2; suite', 'Ligne 1\nLigne 2; suite'))

    def test_dry_run_writes_nothing(self):
        before = self.db_snapshot()
        r = self.ok('contacts', 'import', CANONICAL, '--dry-run')
        self.assertImportLine(r, CANONICAL, 5, 5, 0)
        self.assertEqual(self.db_snapshot(), before)
        self.assertEqual(self.all_contacts(), [])
        r = self.ok('contacts', 'import', SEED_CP1252, '--dry-run')
        self.assertImportLine(r, SEED_CP1252, 6, 6, 0)
        self.assertEqual(self.db_snapshot(), before)

    # -- seed-004 layout --------------------------------------------------------

    def test_seed004_windows_1252(self):
        raw = self.read_bytes(SEED_CP1252)
        with self.assertRaises(UnicodeDecodeError):      # the sample really is cp1252
            raw.decode('utf-8')
        self.assertIn(b'D\xe9nomination', raw)
        self.assertIn(b'\r\n', raw)
        r = self.ok('contacts', 'import', SEED_CP1252)
        self.assertImportLine(r, SEED_CP1252, 6, 6, 0)
        got = self.contacts()
        self.assertSeedContacts(got)
        # the accents survive to search
        self.assertEqual([c['last_name'] for c in self.contacts('--search', 'helene lefevre')],
                         ['Hélène Lefèvre'])
        self.assertEqual([c['last_name'] for c in self.contacts('--search', 'cœur')],
                         ['Benoît Cœur'])

    def test_seed004_encodings_and_separators(self):
        text = read_text(SEED_UTF8)
        rows = list(csv.reader(io.StringIO(text, newline=''), delimiter=';'))
        variants = {
            'utf8.csv': text.encode('utf-8'),
            'utf8-bom-crlf.csv': b'\xef\xbb\xbf' + text.replace('\n', '\r\n').encode('utf-8'),
            'cp1252-lf.csv': text.encode('cp1252'),
            'comma-utf8.csv': to_csv(rows, ',').encode('utf-8'),
            'comma-cp1252-crlf.csv': to_csv(rows, ',', '\r\n').encode('cp1252'),
        }
        for name, data in variants.items():
            with self.subTest(variant=name):
                f = self.write(name, data)
                db = ('--db', self.path(name + '.db'))
                self.setup_db(*db)
                r = self.ok(*db, 'contacts', 'import', f)
                self.assertImportLine(r, f, 6, 6, 0)
                self.assertSeedContacts(self.json(*db, 'contacts', 'list'))

    def test_seed004_without_sync_adds_again(self):
        self.ok('contacts', 'import', SEED_CP1252)
        r = self.ok('contacts', 'import', SEED_UTF8)
        self.assertImportLine(r, SEED_UTF8, 6, 6, 0)
        got = self.contacts()
        self.assertEqual(len(got), 12)
        self.assertEqual([c['display_order'] for c in got if c['party_ref'] == 'C001'],
                         [1, 2, 3, 4, 5, 6])

    def test_seed004_display_order_after_existing(self):
        first = self.add_contact('--party', 'C001', '--last-name', 'Dupont', '--first-name', 'Jean')
        self.ok('contacts', 'import', SEED_UTF8)
        got = self.contacts('--party', 'C001')
        self.assertEqual([(c['id'], c['display_order']) for c in got][0], (first, 1))
        self.assertEqual([c['last_name'] for c in got],
                         ['Dupont', 'Hélène Lefèvre', 'Gérard Müller', 'Françoise Ménard'])
        self.assertEqual([c['display_order'] for c in got], [1, 2, 3, 4])

    def test_seed004_bad_rows(self):
        f = self.write('seed-bad.csv', (
            'Référence;Libellé membre;Dénomination;Note;Fonction;Mail;Tel;Fax;Type;Libellé type\r\n'
            'C001;Dupont SARL;Hélène Lefèvre;;;h.lefevre@dupont-sarl.fr;;;1;\r\n'
            'C001;Dupont SARL;Gérard Müller;;;;;;7;Inconnu\r\n'
            'C404;Inconnu SA;Paul Durand;;;;;;2;\r\n'
            'C002;Boulangerie Lefèvre;Zoé Faure;;;zoe@;;;6;\r\n'
            'C002;Boulangerie Lefèvre;Benoît Cœur;;;;"0478123456;pas un numéro";;4;\r\n'
        ).encode('cp1252'))
        before = self.db_snapshot()
        r = self.fails('contacts', 'import', f)
        self.assertEqual([ln for ln, _ in self.bad_lines(r, f)], [3, 4, 5, 6], r)
        fields = dict(self.bad_lines(r, f))
        self.assertIn('Type', r.err)
        self.assertIn('C404', r.err)
        self.assertIn(fields[5], ('Mail', 'email'))
        self.assertIn(fields[6], ('Tel', 'phones'))
        self.assertEqual(self.db_snapshot(), before)

    # -- all-or-nothing and error reports --------------------------------------

    def _bad_canonical(self, eol):
        rows = [
            HEADER,                                                              # 1
            'C001,,M.,Petit,Jean,,,,j.petit@dupont-sarl.fr,,,,,,,,,,,,,,,',      # 2
            'C001,,,Blanc,,,,,,,,,,,,,,"Note sur' + eol + 'deux lignes, avec virgule",,,,,,',  # 3-4
            'C001,,,Noir,,,,,noir@,,,,,,,,,,,,,,,',                              # 5
            'C002,,,Vert,,,,,,06 12 34 56 78,,,,,,,,,,,,,,',                     # 6
            'C002,,Mme,,Claire,,,,claire@boulangerie-lefevre.fr,,,,,,,,,,,,,,,',  # 7
            'E001,,,Brown,,,,,,,,,,,,,,,,,,,invoice|newsletter,',               # 8
            'E001,,,Grey,,,,,,,,,,,,,,,,,2024-02-30,,,',                         # 9
            'C001,zzz,,Rouge,,,,,,,,,,,,,,,,,,,,',                               # 10
            'C001,,,Jaune,,,,,,,,,,,,,,,,,,,,',                                  # 11
        ]
        return eol.join(rows) + eol

    def test_all_or_nothing_reports_every_bad_row(self):
        self.ok('contacts', 'import', SEED_UTF8)
        for eol in ('\n', '\r\n'):
            with self.subTest(eol=repr(eol)):
                f = self.write('bad.csv', self._bad_canonical(eol))
                before = self.db_snapshot()
                r = self.fails('contacts', 'import', f)
                self.assertEqual(self.bad_lines(r, f),
                                 [(5, 'email'), (7, 'last_name'), (8, 'flags'),
                                  (9, 'valid_from'), (10, None)], r)
                self.assertIn('zzz', r.err)
                self.assertEqual(self.db_snapshot(), before)
                self.assertEqual(len(self.contacts()), 6)
                # the same with --dry-run: same report, exit 2
                r2 = self.fails('contacts', 'import', f, '--dry-run')
                self.assertEqual(self.bad_lines(r2, f), self.bad_lines(r, f))
                self.assertEqual(self.db_snapshot(), before)

    def test_one_line_per_bad_row(self):
        f = self.write('bad2.csv', HEADER + '\n' +
                       'C001,,,Petit,,,,,petit@,pas de tel,,,,,,,,,,,,,spam,\n'
                       'C001,,,Grand,,,,,grand@dupont-sarl.fr,,,,,,,,,,,,,,,\n'
                       'C999,,,,,,,,,,,,,,,,,,,,,,,\n')
        before = self.db_snapshot()
        r = self.fails('contacts', 'import', f)
        self.assertEqual([ln for ln, _ in self.bad_lines(r, f)], [2, 4], r)
        self.assertEqual(self.db_snapshot(), before)

    def test_unknown_column_and_bad_files(self):
        f = self.write('col.csv', 'party_ref,last_name,portable\nC001,Petit,0612345678\n')
        self.fails('contacts', 'import', f, contains='portable')
        f = self.write('nohead.csv', 'C001,Petit\n')
        self.fails('contacts', 'import', f)
        f = self.write('empty.csv', '')
        self.fails('contacts', 'import', f, contains=f)
        self.fails('contacts', 'import', self.path('absent.csv'), contains='absent.csv')
        f = self.write('dup.csv', 'party_ref,last_name,last_name\nC001,Petit,Grand\n')
        self.fails('contacts', 'import', f, contains='last_name')
        f = self.write('noparty.csv', 'last_name,email\nPetit,petit@dupont-sarl.fr\n')
        self.fails('contacts', 'import', f, contains='party_ref')
        self.assertEqual(self.all_contacts(), [])

    # -- the id column ------------------------------------------------------------

    def test_id_column_updates_contact(self):
        self.ok('contacts', 'import', CANONICAL)
        before = self.contacts()
        rousseau = before[1]
        self.assertEqual(rousseau['last_name'], 'Rousseau')
        row = {k: ('' if v is None else str(v)) for k, v in rousseau.items()}
        row['function'] = 'Directrice financière'
        row['email'] = 'elodie.rousseau@dupont-sarl.fr'
        f = self.write('maj.csv', to_csv([e2e.CONTACT_KEYS,
                                          [row[k] for k in e2e.CONTACT_KEYS]]))
        r = self.ok('contacts', 'import', f)
        self.assertImportLine(r, f, 1, 0, 1)
        after = self.contacts()
        self.assertEqual(len(after), 5)
        self.assertEqual(after[1], dict(rousseau, function='Directrice financière',
                                        email='elodie.rousseau@dupont-sarl.fr'))
        self.assertEqual(after[:1] + after[2:], before[:1] + before[2:])

    def test_id_column_mixed_add_update_and_unknown_id(self):
        self.ok('contacts', 'import', CANONICAL)
        before = self.contacts()
        f = self.write('mix.csv', to_csv([
            ['id'] + e2e.CONTACT_COLUMNS,
            ['1'] + canonical_row(party_ref='C001', type='exp', last_name='Moreau',
                                  first_name='Luc', email='luc.moreau@expertise-auto.fr',
                                  flags='claim_settlement'),
            [''] + canonical_row(party_ref='C002', last_name='Nouveau'),
        ]))
        r = self.ok('contacts', 'import', f)
        self.assertImportLine(r, f, 2, 1, 1)
        after = self.contacts()
        self.assertEqual(len(after), 6)
        moreau = [c for c in after if c['id'] == 1][0]
        self.assertEqual(moreau['flags'], 'claim_settlement')
        self.assertEqual([c['last_name'] for c in after if c['party_ref'] == 'C002'],
                         ['Dubois', 'Nouveau'])
        snap = self.db_snapshot()
        f = self.write('ghost.csv', 'id,party_ref,last_name\n999,C001,Fantôme\n')
        r = self.fails('contacts', 'import', f, contains='999')
        self.assertEqual([ln for ln, _ in self.bad_lines(r, f)], [2])
        self.assertEqual(self.db_snapshot(), snap)
        self.assertNotEqual(before, after)

    # -- --sync ------------------------------------------------------------------

    def test_sync_replaces_listed_parties_only(self):
        self.ok('contacts', 'import', CANONICAL)
        before = self.contacts()
        moreau, rousseau, garage = before[0]['id'], before[1]['id'], before[2]['id']
        self.assertEqual(before[0]['last_name'], 'Moreau')
        # Moreau has received an invoice: it cannot be deleted, only ended
        self.sql("INSERT INTO document(type, ref, party_id, contact_id) "
                 "VALUES ('invoice', 'F2024-0042', ?, ?)", (self.party_id('C001'), moreau))
        f = self.write('sync.csv', to_csv([
            e2e.CONTACT_COLUMNS,
            canonical_row(party_ref='C001', last_name='Leroy', first_name='Inès',
                          email='ines.leroy@dupont-sarl.fr', flags='invoice'),
            canonical_row(party_ref='C001', company='Garage Moderne', flags='after_sales'),
        ]))
        r = self.ok('contacts', 'import', f, '--sync')
        self.assertImportLine(r, f, 2, 2, 0)
        after = self.contacts()
        c001 = [c for c in after if c['party_ref'] == 'C001']
        self.assertEqual([(c['last_name'], c['company']) for c in c001],
                         [('Leroy', None), (None, 'Garage Moderne')])
        # other parties untouched
        self.assertEqual([c for c in after if c['party_ref'] != 'C001'], before[3:])
        # the linked contact is ended, the others are gone
        everyone = {c['id']: c for c in self.all_contacts()}
        self.assertIn(moreau, everyone)
        ended = everyone[moreau]['valid_until']
        self.assertIsNotNone(ended)
        self.assertLessEqual(ended, datetime.date.today().isoformat())
        self.assertEqual(dict(everyone[moreau], valid_until=None), before[0])
        self.assertNotIn(rousseau, everyone)
        self.assertNotIn(garage, everyone)
        self.assertEqual(self.sql('SELECT count(*) FROM contact WHERE id IN (?, ?)',
                                  (rousseau, garage)), [(0,)])
        self.assertEqual(len(everyone), 5)

    def test_sync_seed004_layout(self):
        self.ok('contacts', 'import', CANONICAL)
        before = self.contacts()
        f = self.write('sync004.csv', (
            'Référence;Libellé membre;Dénomination;Note;Fonction;Mail;Tel;Fax;Type;Libellé type\r\n'
            'C002;Boulangerie Lefèvre;Benoît Cœur;;Gérant;benoit@boulangerie-lefevre.fr;;;4;\r\n'
            'C002;Boulangerie Lefèvre;Zoé Faure;;;;0611223344;;6;\r\n').encode('cp1252'))
        self.ok('contacts', 'import', f, '--sync')
        after = self.contacts()
        self.assertEqual([c for c in after if c['party_ref'] != 'C002'],
                         [c for c in before if c['party_ref'] != 'C002'])
        self.assertEqual([(c['last_name'], c['flags']) for c in after if c['party_ref'] == 'C002'],
                         [('Benoît Cœur', ALL), ('Zoé Faure', 'receiver')])
        self.assertEqual(len(self.all_contacts()), 6)

    def test_sync_dry_run_and_failed_sync_write_nothing(self):
        self.ok('contacts', 'import', CANONICAL)
        before = self.db_snapshot()
        f = self.write('sync.csv', HEADER + '\nC001,,,Leroy,,,,,,,,,,,,,,,,,,,,\n')
        r = self.ok('contacts', 'import', f, '--sync', '--dry-run')
        self.assertImportLine(r, f, 1, 1, 0)
        self.assertEqual(self.db_snapshot(), before)
        f = self.write('sync-bad.csv', HEADER + '\nC001,,,Leroy,,,,,,,,,,,,,,,,,,,,\n'
                       'C001,,,Faux,,,,,faux@,,,,,,,,,,,,,,,\n')
        r = self.fails('contacts', 'import', f, '--sync')
        self.assertEqual([ln for ln, _ in self.bad_lines(r, f)], [3])
        self.assertEqual(self.db_snapshot(), before)


if __name__ == '__main__':
    e2e.main()
