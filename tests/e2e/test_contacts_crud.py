"""End-to-end: contacts add|edit|show|list|rm|end (SPEC §1, §6): validation,
normalisation, display order, validity, links that forbid deletion, search
and pagination."""

import datetime
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

C = e2e.blank_contact


def table_rows(out):
    """Data lines of a table listing: between the '--' rule and the
    'page i/n' footer."""
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(r'^\s*-+(\s+-+)+\s*$', l))
    rows = []
    for l in lines[start + 1:]:
        if re.match(r'^\s*page \d+/\d+', l) or not l.strip():
            break
        rows.append(l)
    return rows


class ContactsCrudTest(e2e.PostierCase):

    def setUp(self):
        super().setUp()
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.ok('types', 'add', '--label', 'Garage', '--code', 'gar')
        self.add_party('C001', 'Dupont SARL')
        self.add_party('C002', 'Boulangerie Lefèvre')
        self.ok('addresses', 'add', '--party', 'C001', '--label', 'Siège',
                '--city', 'Paris')
        self.ok('addresses', 'add', '--party', 'C002', '--label', 'Boutique',
                '--city', 'Lyon')

    def assertNothingWritten(self, before):
        self.assertEqual(self.db_snapshot(), before, 'the database changed')

    # -- add / show -----------------------------------------------------------

    def test_add_minimal(self):
        r = self.ok('contacts', 'add', '--party', 'C001', '--last-name', 'Moreau')
        self.assertRegex(r.out, r'^added contact 1\s*$')
        got = self.contact(1)
        self.assertIn(got.pop('locale'), (None, 'fr'))
        want = C(id=1, party_ref='C001', last_name='Moreau', display_order=1)
        del want['locale']
        self.assertEqual(got, want)
        self.assertEqual(set(self.contact(1)), set(e2e.CONTACT_KEYS))

    def test_add_every_field(self):
        cid = self.add_contact(
            '--party', 'C001', '--type', 'exp', '--civility', 'Mme',
            '--last-name', 'Rousseau', '--first-name', 'Élodie',
            '--company', 'Cabinet Rousseau Expertise', '--department', 'Sinistres',
            '--function', 'Expert automobile', '--email', 'e.rousseau@rousseau-expertise.fr',
            '--phones', '06 12 34 56 78;01 42 68 53 00', '--fax', '01 42 68 53 99',
            '--address', '8 avenue Foch', '--postcode', '75116', '--city', 'Paris',
            '--country', 'France', '--site', 'Siège', '--website', 'https://rousseau-expertise.fr',
            '--note', 'Joignable le matin, sauf le mercredi', '--locale', 'en',
            '--display-order', '3', '--valid-from', '2024-01-15', '--valid-until', '2099-12-31',
            '--flags', 'claim_settlement|invoice', '--consents', 'esign|commercial')
        got = self.contact(cid)
        fax = got.pop('fax')
        self.assertTrue(fax and re.sub(r'\D', '', fax).endswith('142685399'), fax)
        want = C(id=cid, party_ref='C001', type='exp', civility='Mme', last_name='Rousseau',
                 first_name='Élodie', company='Cabinet Rousseau Expertise',
                 department='Sinistres', function='Expert automobile',
                 email='e.rousseau@rousseau-expertise.fr', phones='+33612345678;+33142685300',
                 address='8 avenue Foch', postcode='75116', city='Paris', country='France',
                 site='Siège', website='https://rousseau-expertise.fr',
                 note='Joignable le matin, sauf le mercredi', locale='en', display_order=3,
                 valid_from='2024-01-15', valid_until='2099-12-31',
                 flags='invoice|claim_settlement', consents='commercial|esign')
        del want['fax']
        self.assertEqual(got, want)
        self.assertEqual(self.contacts(), [dict(want, fax=fax)])

    def test_show_formats_and_unknown(self):
        cid = self.add_contact('--party', 'C001', '--company', 'Garage du Centre',
                               '--city', 'Lyon')
        out = self.ok('contacts', 'show', cid).out
        self.assertIn('Garage du Centre', out)
        self.assertIn('Lyon', out)
        rows = e2e.parse_csv(self.ok('contacts', 'show', cid, '--format', 'csv').out)
        self.assertEqual(rows[0], e2e.CONTACT_KEYS)
        self.assertEqual(rows[1][0], str(cid))
        self.assertEqual(rows[1][e2e.CONTACT_KEYS.index('company')], 'Garage du Centre')
        self.fails('contacts', 'show', '999', contains='999')
        self.fails('contacts', 'show', 'abc')

    def test_last_name_or_company_required(self):
        before = self.db_snapshot()
        self.fails('contacts', 'add', '--party', 'C001', '--first-name', 'Luc',
                   '--email', 'luc@exemple.fr', contains='last_name')
        self.fails('contacts', 'add', '--party', 'C001', '--last-name', '', '--company', '')
        self.assertNothingWritten(before)
        self.add_contact('--party', 'C001', '--company', 'Garage du Centre')
        self.add_contact('--party', 'C001', '--last-name', 'Moreau')
        self.assertEqual(len(self.contacts()), 2)

    def test_email_validation(self):
        good = ['jean.dupont@dupont-sarl.fr', 'jean.dupont+factures@dupont-sarl.fr',
                "o'brien@example.co.uk", 'contact@société.fr']
        for addr in good:
            with self.subTest(email=addr):
                cid = self.add_contact('--party', 'C001', '--last-name', 'Test',
                                       '--email', addr)
                stored = self.contact(cid)['email']
                if addr == 'contact@société.fr':
                    self.assertIn(stored, ('contact@société.fr', 'contact@xn--socit-esab.fr'))
                else:
                    self.assertEqual(stored, addr)
        before = self.db_snapshot()
        for addr in ['a@b', 'x@', 'a b@x.fr', '@dupont.fr', 'jean.dupont', 'jean@@dupont.fr',
                     'jean@dupont..fr']:
            with self.subTest(email=addr):
                self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'Test',
                           '--email', addr, contains="'email'")
        self.assertNothingWritten(before)

    def test_phones_normalised_to_e164(self):
        cases = [
            ('06 12 34 56 78', '+33612345678'),
            ('06.12.34.56.78', '+33612345678'),
            ('0033 6 12 34 56 78', '+33612345678'),
            ('+33 6 12 34 56 78', '+33612345678'),
            ('06 12 34 56 78;01 42 68 53 00;+44 20 7946 0958',
             '+33612345678;+33142685300;+442079460958'),
        ]
        for typed, stored in cases:
            with self.subTest(phones=typed):
                cid = self.add_contact('--party', 'C001', '--last-name', 'Tel',
                                       '--phones', typed)
                self.assertEqual(self.contact(cid)['phones'], stored)
        before = self.db_snapshot()
        for typed in ['abc', '06 12 34 56 78;appeler', '+33 6 12 34 56 78 90 12 34 56']:
            with self.subTest(phones=typed):
                self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'Tel',
                           '--phones', typed, contains="'phones'")
        self.assertNothingWritten(before)

    def test_flags_and_consents_canonical_order(self):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Moreau',
                               '--flags', 'receiver|invoice|order',
                               '--consents', 'sms_marketing|esign|commercial')
        got = self.contact(cid)
        self.assertEqual(got['flags'], 'invoice|order|receiver')
        self.assertEqual(got['consents'], 'commercial|esign|sms_marketing')
        cid = self.add_contact('--party', 'C001', '--last-name', 'Tous',
                               '--flags', '|'.join(reversed(e2e.FLAGS)),
                               '--consents', '|'.join(reversed(e2e.CONSENTS)))
        got = self.contact(cid)
        self.assertEqual(got['flags'], '|'.join(e2e.FLAGS))
        self.assertEqual(got['consents'], '|'.join(e2e.CONSENTS))
        before = self.db_snapshot()
        self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'X',
                   '--flags', 'invoice|spam', contains=["'flags'", 'spam'])
        self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'X',
                   '--consents', 'newsletter', contains=["'consents'", 'newsletter'])
        self.assertNothingWritten(before)

    def test_unknown_party_type_site(self):
        before = self.db_snapshot()
        self.fails('contacts', 'add', '--party', 'C999', '--last-name', 'X', contains='C999')
        self.fails('contacts', 'add', '--party', 'C001', '--type', 'zzz', '--last-name', 'X',
                   contains='zzz')
        self.fails('contacts', 'add', '--party', 'C001', '--site', 'Entrepôt',
                   '--last-name', 'X', contains='Entrepôt')
        # a site of another party is not a site of this one
        self.fails('contacts', 'add', '--party', 'C001', '--site', 'Boutique',
                   '--last-name', 'X', contains='Boutique')
        self.fails('contacts', 'add', '--last-name', 'X')      # --party required
        self.assertNothingWritten(before)

    def test_other_invalid_fields(self):
        before = self.db_snapshot()
        for opt, value, field in [('--valid-from', '2024-13-01', 'valid_from'),
                                  ('--valid-until', '31/12/2024', 'valid_until'),
                                  ('--locale', 'de', 'locale'),
                                  ('--display-order', 'premier', 'display_order')]:
            with self.subTest(opt=opt):
                self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'X',
                           opt, value, contains=field)
        self.assertNothingWritten(before)

    # -- display order and listing order --------------------------------------

    def test_display_order_defaults_after_last(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Un')
        b = self.add_contact('--party', 'C001', '--last-name', 'Deux')
        c = self.add_contact('--party', 'C002', '--last-name', 'Autre')
        d = self.add_contact('--party', 'C001', '--last-name', 'Dix', '--display-order', '10')
        e = self.add_contact('--party', 'C001', '--last-name', 'Onze')
        orders = {x['id']: x['display_order'] for x in self.contacts()}
        self.assertEqual(orders, {a: 1, b: 2, c: 1, d: 10, e: 11})

    def test_list_ordered_by_party_display_order_id(self):
        z1 = self.add_contact('--party', 'C002', '--last-name', 'Zola')
        m2a = self.add_contact('--party', 'C001', '--last-name', 'Martin', '--display-order', '2')
        m1 = self.add_contact('--party', 'C001', '--last-name', 'Bernard', '--display-order', '1')
        m2b = self.add_contact('--party', 'C001', '--last-name', 'Adam', '--display-order', '2')
        self.assertEqual([x['id'] for x in self.contacts()], [m1, m2a, m2b, z1])
        self.assertEqual([x['id'] for x in self.contacts('--party', 'C001')], [m1, m2a, m2b])
        self.assertEqual([x['id'] for x in self.contacts('--party', 'C002')], [z1])

    def test_list_csv_and_table(self):
        self.add_contact('--party', 'C001', '--last-name', 'Rousseau', '--first-name', 'Élodie',
                         '--note', 'Dit "bonjour", puis raccroche', '--phones', '06 12 34 56 78')
        self.add_contact('--party', 'C002', '--company', 'Garage du Centre')
        listed = self.contacts()
        rows = e2e.parse_csv(self.ok('contacts', 'list', '--format', 'csv').out)
        self.assertEqual(rows[0], e2e.CONTACT_KEYS)
        self.assertEqual(len(rows), 3)
        for row, obj in zip(rows[1:], listed):
            for k, cell in zip(e2e.CONTACT_KEYS, row):
                v = '' if obj[k] is None else str(obj[k])
                self.assertIn(cell, (v, "'" + v), k)
        out = self.ok('contacts', 'list').out
        self.assertEqual(len(table_rows(out)), 2, out)
        self.assertIn('Rousseau', out)
        self.assertIn('page 1/1, 2 contacts', out)

    # -- edit -------------------------------------------------------------------

    def test_edit_changes_only_given_fields(self):
        cid = self.add_contact('--party', 'C001', '--type', 'exp', '--last-name', 'Rousseau',
                               '--first-name', 'Élodie', '--email', 'e.rousseau@exemple.fr',
                               '--phones', '06 12 34 56 78', '--note', 'Ancienne note',
                               '--site', 'Siège', '--flags', 'invoice|order',
                               '--consents', 'esign', '--valid-from', '2024-01-01')
        before = self.contact(cid)
        r = self.ok('contacts', 'edit', cid, '--email', 'elodie.rousseau@nouveau.fr')
        self.assertEqual(r.err, '')
        self.assertEqual(self.contact(cid), dict(before, email='elodie.rousseau@nouveau.fr'))
        self.ok('contacts', 'edit', cid, '--note', '')
        self.assertEqual(self.contact(cid), dict(before, email='elodie.rousseau@nouveau.fr',
                                                 note=None))
        self.ok('contacts', 'edit', cid, '--flags', 'receiver', '--phones', '07 98 76 54 32',
                '--type', 'gar', '--display-order', '5')
        self.assertEqual(self.contact(cid), dict(before, email='elodie.rousseau@nouveau.fr',
                                                 note=None, flags='receiver', type='gar',
                                                 phones='+33798765432', display_order=5))
        self.ok('contacts', 'edit', cid, '--site', '', '--consents', '')
        got = self.contact(cid)
        self.assertIsNone(got['site'])
        self.assertIsNone(got['consents'])
        self.assertEqual(got['last_name'], 'Rousseau')

    def test_edit_invalid_changes_nothing(self):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Rousseau',
                               '--email', 'e.rousseau@exemple.fr')
        before = self.db_snapshot()
        self.fails('contacts', 'edit', cid, '--email', 'pas un mail', '--note', 'x',
                   contains="'email'")
        self.fails('contacts', 'edit', cid, '--last-name', '', contains='last_name')
        self.fails('contacts', 'edit', cid, '--flags', 'facture', contains="'flags'")
        self.fails('contacts', 'edit', cid, '--type', 'zzz', contains='zzz')
        self.fails('contacts', 'edit', cid, '--site', 'Boutique')
        self.fails('contacts', 'edit', '999', '--note', 'x', contains='999')
        self.assertNothingWritten(before)

    # -- rm -------------------------------------------------------------------

    def test_rm_unlinked_contact(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Un')
        b = self.add_contact('--party', 'C001', '--last-name', 'Deux')
        self.ok('contacts', 'rm', a)
        self.assertEqual([x['id'] for x in self.all_contacts()], [b])
        self.fails('contacts', 'show', a)
        self.fails('contacts', 'rm', a)
        self.fails('contacts', 'rm', '999')

    def _linked(self, how):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Lié')
        pid = self.party_id('C001')
        if how == 'document':
            self.sql("INSERT INTO document(type, ref, party_id, contact_id) "
                     "VALUES ('invoice', 'F2024-0001', ?, ?)", (pid, cid))
        elif how == 'history':
            self.sql("INSERT INTO history(at, event, channel, address, contact_id, party_ref, "
                     "document_ref, document_type, hash) VALUES "
                     "('2024-05-02T08:00:00Z', 'sent', 'email', 'lie@exemple.fr', ?, 'C001', "
                     "'F2024-0001', 'invoice', ?)", (cid, 'a' * 64))
        elif how == 'event':
            self.sql("INSERT INTO event(contact_id, at, kind, note) VALUES "
                     "(?, '2024-05-02T08:00:00Z', 'appel', 'rappel facture')", (cid,))
        return cid

    def test_rm_refused_when_linked(self):
        for how in ('document', 'history', 'event'):
            with self.subTest(link=how):
                cid = self._linked(how)
                self.fails('contacts', 'rm', cid)
                self.assertEqual(self.contact(cid)['last_name'], 'Lié')
                self.assertEqual(self.sql('SELECT count(*) FROM contact WHERE id = ?', (cid,)),
                                 [(1,)])
                # ending it stays possible
                self.ok('contacts', 'end', cid, '--date', '2024-06-30')
                self.assertEqual(self.contact(cid)['valid_until'], '2024-06-30')

    def test_rm_allowed_with_only_contact_history(self):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Éphémère')
        for n, ev in enumerate(('contact_added', 'contact_edited', 'contact_ended', 'imported')):
            self.sql("INSERT INTO history(at, event, contact_id, party_ref, hash) "
                     "VALUES (?, ?, ?, 'C001', ?)",
                     ('2024-05-0%dT08:00:00Z' % (n + 1), ev, cid, '%064x' % n))
        self.ok('contacts', 'rm', cid)
        self.assertEqual(self.all_contacts(), [])

    # -- end and validity -------------------------------------------------------

    def test_end_default_today_hides_contact(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Parti')
        b = self.add_contact('--party', 'C001', '--last-name', 'Reste')
        # ended now: yesterday was its last day of activity
        yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
        self.ok('contacts', 'end', a)
        self.assertEqual(self.contact(a)['valid_until'], yesterday)
        self.assertEqual([x['id'] for x in self.contacts()], [b])
        self.assertEqual([x['id'] for x in self.contacts('--all')], [a, b])

    def test_end_with_date(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Parti',
                             '--valid-from', '2020-01-01')
        self.ok('contacts', 'end', a, '--date', '2030-06-30')
        self.assertEqual(self.contact(a)['valid_until'], '2030-06-30')
        self.assertEqual([x['id'] for x in self.contacts('--date', '2030-06-01')], [a])
        self.assertEqual(self.contacts('--date', '2030-07-15'), [])
        self.assertEqual([x['id'] for x in self.contacts('--date', '2030-07-15', '--all')], [a])
        self.fails('contacts', 'end', a, '--date', '2030-02-30')
        self.fails('contacts', 'end', '999')
        self.assertEqual(self.contact(a)['valid_until'], '2030-06-30')

    def test_validity_window_in_listing(self):
        past = self.add_contact('--party', 'C001', '--last-name', 'Ancien',
                                '--valid-until', '2001-01-31')
        future = self.add_contact('--party', 'C001', '--last-name', 'Futur',
                                  '--valid-from', '2999-01-01')
        now = self.add_contact('--party', 'C001', '--last-name', 'Actuel',
                               '--valid-from', '2000-01-01', '--valid-until', '2998-12-31')
        self.assertEqual([x['id'] for x in self.contacts()], [now])
        self.assertEqual([x['id'] for x in self.contacts('--all')], [past, future, now])
        self.assertEqual([x['id'] for x in self.contacts('--date', '2000-06-01')], [past, now])
        self.assertEqual([x['id'] for x in self.contacts('--date', '2999-06-01')], [future])
        self.assertEqual([x['id'] for x in self.contacts('--date', '1999-06-01')], [past])
        self.fails('contacts', 'list', '--date', 'demain')
        out = self.ok('contacts', 'list').out
        self.assertNotIn('Ancien', out)
        self.assertNotIn('Futur', out)

    # -- search ---------------------------------------------------------------

    def _search(self, text, *extra):
        return [x['id'] for x in self.contacts('--search', text, *extra)]

    def test_search_ignores_case_and_accents(self):
        e = self.add_contact('--party', 'C001', '--last-name', 'Rousseau', '--first-name', 'Élodie',
                             '--city', 'Lyon')
        h = self.add_contact('--party', 'C002', '--last-name', 'LEFÈVRE', '--first-name', 'Hélène',
                             '--city', 'Paris')
        self.add_contact('--party', 'C002', '--last-name', 'Dubois', '--first-name', 'François')
        for text in ('elodie', 'Élodie', 'ÉLODIE', 'ELODIE', 'élo'):
            with self.subTest(search=text):
                self.assertEqual(self._search(text), [e])
        for text in ('lefevre', 'Lefèvre', 'helene lefevre', 'HÉLÈNE'):
            with self.subTest(search=text):
                self.assertEqual(self._search(text), [h])
        # every word must match, in any order
        self.assertEqual(self._search('rousseau elodie lyon'), [e])
        self.assertEqual(self._search('elodie paris'), [])
        self.assertEqual(self._search('françois'), self._search('francois'))
        self.assertEqual(len(self._search('francois')), 1)
        self.assertEqual(self._search('elodie', '--party', 'C002'), [])
        self.assertEqual(self._search('zzzz'), [])

    def test_search_covers_every_field(self):
        ids = {}
        ids['last_name'] = self.add_contact('--party', 'C001', '--last-name', 'Quintard')
        ids['first_name'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                             '--first-name', 'Anatole')
        ids['company'] = self.add_contact('--party', 'C001', '--company', 'Menuiserie Vérot')
        ids['department'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                             '--department', 'Comptabilité fournisseurs')
        ids['function'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                           '--function', 'Magasinier')
        ids['address'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                          '--address', '3 rue Garibaldi')
        ids['postcode'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                           '--postcode', '69330')
        ids['city'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                       '--city', 'Meyzieu')
        ids['country'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                          '--country', 'Belgique')
        ids['email'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                        '--email', 'compta@scierie-lambert.fr')
        ids['website'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                          '--website', 'https://www.vinsdulanguedoc.fr')
        ids['note'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                       '--note', 'Préfère être appelé le mercredi')
        ids['phones'] = self.add_contact('--party', 'C001', '--last-name', 'X',
                                         '--phones', '04 78 12 34 56')
        queries = {'last_name': 'quintard', 'first_name': 'ANATOLE', 'company': 'verot',
                   'department': 'comptabilite', 'function': 'magasinier',
                   'address': 'garibaldi', 'postcode': '69330', 'city': 'meyzieu',
                   'country': 'belgique', 'email': 'scierie-lambert',
                   'website': 'vinsdulanguedoc', 'note': 'prefere mercredi',
                   'phones': '04 78 12'}
        for field, text in queries.items():
            with self.subTest(field=field, search=text):
                self.assertEqual(self._search(text), [ids[field]])

    def test_search_phones_as_typed(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Mobile',
                             '--phones', '01 42 68 53 00;06 12 34 56 78')
        self.add_contact('--party', 'C001', '--last-name', 'Autre', '--phones', '07 98 76 54 32')
        for text in ('06 12 34', '+33 6 12', '0612345678', '06 12 34 56 78', '+33612345678',
                     '06.12.34.56.78', '01 42 68'):
            with self.subTest(search=text):
                self.assertEqual(self._search(text), [a])
        self.assertEqual(self._search('06 99 99'), [])

    # -- pagination -----------------------------------------------------------

    def test_pagination(self):
        for i in range(1, 121):
            self.add_contact('--party', 'C001', '--last-name', 'Contact%03d' % i)
        out = self.ok('contacts', 'list').out
        self.assertEqual(len(table_rows(out)), 50)
        self.assertIn('page 1/3, 120 contacts', out)
        self.assertIn('Contact001', out)
        self.assertNotIn('Contact051', out)
        out = self.ok('contacts', 'list', '--page', '3').out
        self.assertEqual(len(table_rows(out)), 20)
        self.assertIn('page 3/3, 120 contacts', out)
        self.assertIn('Contact120', out)
        self.assertNotIn('Contact100 ', out)
        out = self.ok('contacts', 'list', '--per-page', '100', '--page', '2').out
        self.assertEqual(len(table_rows(out)), 20)
        self.assertIn('page 2/2, 120 contacts', out)
        # json and csv: every row unless paginated explicitly
        self.assertEqual(len(self.contacts()), 120)
        self.assertEqual(len(e2e.parse_csv(self.ok('contacts', 'list', '--format', 'csv').out)),
                         121)
        page = self.contacts('--per-page', '10', '--page', '2')
        self.assertEqual([x['last_name'] for x in page],
                         ['Contact%03d' % i for i in range(11, 21)])
        self.assertEqual(len(self.contacts('--page', '3')), 20)
        self.fails('contacts', 'list', '--page', '0')
        self.fails('contacts', 'list', '--per-page', 'beaucoup')


if __name__ == '__main__':
    e2e.main()
