"""End-to-end: `contacts export --format csv|xlsx -o FILE` (SPEC §6, §7):
RFC 4180 CSV with formula neutralisation, BOM and ';' options, filters,
XLSX checked with Debian's python3-openpyxl, and export -> edit -> import
round trips."""

import csv
import datetime
import io
import os
import re
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

import openpyxl  # noqa: E402  (Debian python3-openpyxl)

CANONICAL = e2e.data_path('contacts', 'contacts_canonical.csv')
DANGEROUS = '=+-@\t\r'

# Notes a spreadsheet would run as formulas (party A001).
RISKY_NOTES = ['=HYPERLINK("http://x")', '+33 6 12 34 56 78 à rappeler', '-2+3',
               '@SUM(A1:A9)', '\tindentée', '\rretour']


def neutral(v):
    """A listing value as the CSV export must write it (§7)."""
    if v is None:
        return ''
    v = str(v)
    return "'" + v if v[:1] and v[0] in DANGEROUS else v


class ContactsExportTest(e2e.PostierCase):

    def setUp(self):
        super().setUp()
        self.ok('parties', 'import', e2e.data_path('contacts', 'parties.csv'))
        self.ok('addresses', 'import', e2e.data_path('contacts', 'addresses.csv'))
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.ok('types', 'add', '--label', 'Garage', '--code', 'gar')
        self.ok('contacts', 'import', CANONICAL)
        self.risky = [self.add_contact('--party', 'A001', '--last-name', 'Piège %d' % i,
                                       '--note', note.strip() or 'x')
                      for i, note in enumerate(RISKY_NOTES, 1)]
        # postier trims what is typed, so a note starting with a tab or a CR
        # (pasted from a spreadsheet, written by another tool) is put in the
        # database directly: the export must still neutralise it
        for cid, note in zip(self.risky, RISKY_NOTES):
            if note != note.strip():
                self.sql('UPDATE contact SET note = ? WHERE id = ?', (note, cid))
        self.ended = self.add_contact('--party', 'F001', '--last-name', 'Ancien',
                                      '--first-name', 'Gaston', '--valid-from', '2015-03-01',
                                      '--valid-until', '2020-12-31', '--phones', '02 40 11 22 34')

    def export(self, fmt, name, *extra):
        out = self.path(name)
        r = self.ok('contacts', 'export', '--format', fmt, '-o', out, *extra)
        self.assertTrue(os.path.isfile(out), r)
        return out

    def read_csv(self, path, delimiter=','):
        raw = self.read_bytes(path)
        if raw.startswith(b'\xef\xbb\xbf'):
            raw = raw[3:]
        return list(csv.reader(io.StringIO(raw.decode('utf-8'), newline=''),
                               delimiter=delimiter))

    def load_xlsx(self, path):
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            wb = openpyxl.load_workbook(path)
        self.assertEqual(len(wb.worksheets), 1)
        return wb.worksheets[0]

    # -- CSV ----------------------------------------------------------------------

    def test_csv_matches_listing(self):
        listed = self.contacts()
        f = self.export('csv', 'contacts.csv')
        rows = self.read_csv(f)
        self.assertEqual(rows[0], e2e.CONTACT_KEYS)
        self.assertEqual(len(rows) - 1, len(listed))
        self.assertEqual(len(listed), 11)
        for row, c in zip(rows[1:], listed):
            self.assertEqual(row, [neutral(c[k]) for k in e2e.CONTACT_KEYS])
        self.assertNotIn('Ancien', self.read_bytes(f).decode('utf-8'))
        raw = self.read_bytes(f)
        self.assertFalse(raw.startswith(b'\xef\xbb\xbf'), 'BOM without --bom')
        self.assertIn('Élodie'.encode('utf-8'), raw)

    def test_csv_quoting_rfc4180(self):
        f = self.export('csv', 'contacts.csv')
        text = self.read_bytes(f).decode('utf-8')
        # a field with a quote and a newline is quoted, quotes doubled
        self.assertRegex(text, r'"Factures : envoyer le PDF\r?\npuis la relance ""J\+15"""')
        self.assertIn('"Joignable le matin, sauf le mercredi"', text)
        # fields without separators, quotes or line breaks are not quoted
        self.assertRegex(text, r'(?m)^1,C001,exp,M\.,Moreau,Luc,')

    def test_csv_records_end_with_crlf(self):
        # RFC 4180 §2.1: each record ends with CRLF
        f = self.export('csv', 'contacts.csv', '--party', 'E001')
        raw = self.read_bytes(f)
        self.assertTrue(raw.startswith(b'id,party_ref,type,'))
        self.assertEqual(raw.count(b'\r\n'), 2, raw)
        self.assertTrue(raw.endswith(b'\r\n'), raw)

    def test_csv_formula_injection_neutralised(self):
        f = self.export('csv', 'risky.csv', '--party', 'A001')
        rows = self.read_csv(f)
        note = e2e.CONTACT_KEYS.index('note')
        self.assertEqual([r[note] for r in rows[1:]], ["'" + n for n in RISKY_NOTES])
        self.assertIn(b'\'=HYPERLINK(""http://x"")', self.read_bytes(f))
        f = self.export('csv', 'c001.csv', '--party', 'C001')
        rows = self.read_csv(f)
        phones = e2e.CONTACT_KEYS.index('phones')
        self.assertEqual(rows[1][phones], "'+33612345678;+33123456789")
        self.assertEqual(rows[1][e2e.CONTACT_KEYS.index('last_name')], 'Moreau')

    def test_csv_bom_and_separator(self):
        f = self.export('csv', 'bom.csv', '--bom')
        raw = self.read_bytes(f)
        self.assertTrue(raw.startswith(b'\xef\xbb\xbfid,party_ref,'), raw[:20])
        self.assertEqual(self.read_csv(f), self.read_csv(self.export('csv', 'plain.csv')))
        f = self.export('csv', 'semi.csv', '--separator', ';')
        raw = self.read_bytes(f)
        self.assertTrue(raw.startswith(b'id;party_ref;type;civility;'), raw[:40])
        rows = self.read_csv(f, ';')
        self.assertEqual(rows, self.read_csv(self.export('csv', 'plain2.csv')))
        # a ';' inside a field is quoted when ';' separates
        self.ok('contacts', 'edit', 1, '--note', 'Bureau 2; porte B')
        f = self.export('csv', 'excel.csv', '--bom', '--separator', ';')
        raw = self.read_bytes(f)
        self.assertTrue(raw.startswith(b'\xef\xbb\xbfid;'))
        self.assertIn(b'"Bureau 2; porte B"', raw)
        moreau = [r for r in self.read_csv(f, ';') if r[0] == '1'][0]
        self.assertEqual(moreau[e2e.CONTACT_KEYS.index('note')], 'Bureau 2; porte B')

    def test_csv_filters(self):
        ids = lambda f: [int(r[0]) for r in self.read_csv(f)[1:]]  # noqa: E731
        self.assertEqual(ids(self.export('csv', 'p.csv', '--party', 'C002')),
                         [c['id'] for c in self.contacts('--party', 'C002')])
        self.assertEqual(len(ids(self.export('csv', 'p.csv', '--party', 'C002'))), 1)
        self.assertEqual(ids(self.export('csv', 's.csv', '--search', 'elodie')), [2])
        self.assertEqual(ids(self.export('csv', 's.csv', '--search', 'lyon garage')), [3])
        everyone = ids(self.export('csv', 'all.csv', '--all'))
        self.assertIn(self.ended, everyone)
        self.assertEqual(len(everyone), 12)
        self.assertEqual(ids(self.export('csv', 'f.csv', '--party', 'F001')), [])
        self.assertEqual(ids(self.export('csv', 'f.csv', '--party', 'F001', '--all')),
                         [self.ended])
        self.assertEqual(self.read_csv(self.path('f.csv'))[0], e2e.CONTACT_KEYS)

    def test_export_usage_errors(self):
        self.fails('contacts', 'export', '--format', 'ods', '-o', self.path('x.ods'))
        self.fails('contacts', 'export', '--format', 'csv')
        r = self.run_postier('contacts', 'export', '--format', 'csv', '-o',
                             self.path('absent', 'dossier', 'x.csv'))
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('postier: ', r.err)

    # -- XLSX ---------------------------------------------------------------------

    def test_xlsx_layout(self):
        listed = self.contacts()
        f = self.export('xlsx', 'contacts.xlsx')
        self.assertEqual(self.read_bytes(f)[:2], b'PK')
        ws = self.load_xlsx(f)
        header = [c.value for c in ws[1]]
        self.assertEqual(header, e2e.CONTACT_KEYS)
        self.assertTrue(all(c.font.b for c in ws[1]), 'header row must be bold')
        self.assertFalse(any(c.font.b for c in ws[2]), 'data rows are not bold')
        self.assertEqual(ws.freeze_panes, 'A2')
        self.assertEqual(ws.max_row, len(listed) + 1)
        self.assertEqual(ws.auto_filter.ref, 'A1:Y%d' % (len(listed) + 1))
        email_col = openpyxl.utils.get_column_letter(e2e.CONTACT_KEYS.index('email') + 1)
        self.assertGreaterEqual(ws.column_dimensions[email_col].width or 0, 20,
                                'the e-mail column needs a sensible width')

    def test_xlsx_values_and_types(self):
        listed = self.contacts('--all')
        f = self.export('xlsx', 'all.xlsx', '--all')
        ws = self.load_xlsx(f)
        rows = list(ws.iter_rows(min_row=2, values_only=True))
        self.assertEqual(len(rows), len(listed))
        for row, c in zip(rows, listed):
            got = dict(zip(e2e.CONTACT_KEYS, row))
            self.assertIsInstance(got['id'], int)
            self.assertEqual(got['id'], c['id'])
            self.assertIsInstance(got['display_order'], int)
            self.assertEqual(got['display_order'], c['display_order'])
            for k in ('valid_from', 'valid_until'):
                if c[k] is None:
                    self.assertIsNone(got[k])
                else:
                    self.assertIsInstance(got[k], datetime.datetime, k)
                    self.assertEqual(got[k].date().isoformat(), c[k])
            for k in e2e.CONTACT_KEYS:
                if k in ('id', 'display_order', 'valid_from', 'valid_until', 'note'):
                    continue
                self.assertEqual(got[k], c[k], '%s of contact %d' % (k, c['id']))
        moreau = [dict(zip(e2e.CONTACT_KEYS, r)) for r in rows if r[0] == 1][0]
        self.assertEqual(moreau['last_name'], 'Moreau')
        self.assertEqual(moreau['valid_from'], datetime.datetime(2024, 1, 1))
        self.assertEqual(moreau['phones'], '+33612345678;+33123456789')
        ended = [dict(zip(e2e.CONTACT_KEYS, r)) for r in rows if r[0] == self.ended][0]
        self.assertEqual(ended['valid_until'], datetime.datetime(2020, 12, 31))
        date_cell = ws.cell(row=[r[0] for r in rows].index(self.ended) + 2,
                            column=e2e.CONTACT_KEYS.index('valid_until') + 1)
        self.assertTrue(date_cell.is_date)

    def test_xlsx_text_is_never_a_formula(self):
        f = self.export('xlsx', 'risky.xlsx', '--party', 'A001')
        ws = self.load_xlsx(f)
        col = e2e.CONTACT_KEYS.index('note') + 1
        cells = [ws.cell(row=r, column=col) for r in range(2, ws.max_row + 1)]
        self.assertEqual(len(cells), len(RISKY_NOTES))
        for cell, note in zip(cells, RISKY_NOTES):
            self.assertNotEqual(cell.data_type, 'f', 'note %r became a formula' % note)
            # a CR is kept as OOXML's _x000D_ escape (libxlsxwriter), which
            # openpyxl does not decode
            ooxml = note.replace('\r', '_x000D_')
            self.assertIn(cell.value, (note, "'" + note, ooxml, "'" + ooxml))
        names = [ws.cell(row=r, column=e2e.CONTACT_KEYS.index('last_name') + 1).value
                 for r in range(2, ws.max_row + 1)]
        self.assertEqual(names, ['Piège %d' % i for i in range(1, len(RISKY_NOTES) + 1)])

    def test_xlsx_filters(self):
        ws = self.load_xlsx(self.export('xlsx', 'c.xlsx', '--search', 'élodie'))
        self.assertEqual(ws.max_row, 2)
        self.assertEqual(ws.cell(row=2, column=1).value, 2)
        self.assertEqual(ws.auto_filter.ref, 'A1:Y2')
        ws = self.load_xlsx(self.export('xlsx', 'f.xlsx', '--party', 'F001'))
        self.assertEqual([c.value for c in ws[1]], e2e.CONTACT_KEYS)
        self.assertEqual(ws.max_row, 1)

    # -- round trips ---------------------------------------------------------

    def test_roundtrip_edit_a_cell_updates_contact(self):
        for sep, bom in ((',', ()), (';', ('--bom',))):
            with self.subTest(separator=sep):
                before = self.contacts()
                f = self.export('csv', 'rt.csv', '--party', 'C002', '--separator', sep, *bom)
                rows = self.read_csv(f, sep)
                self.assertEqual(len(rows), 2)
                fn = e2e.CONTACT_KEYS.index('function')
                note = e2e.CONTACT_KEYS.index('note')
                phones = e2e.CONTACT_KEYS.index('phones')
                newfn = 'Gérant associé' if sep == ',' else 'Cogérant'
                rows[1][fn] = newfn
                rows[1][note] = 'Livraison le mardi, "quai 2"'
                rows[1][phones] = '06 98 76 54 32'         # retyped by the user
                data = '\r\n'.join(
                    sep.join('"%s"' % c.replace('"', '""') if (sep in c or '"' in c) else c
                             for c in r) for r in rows) + '\r\n'
                self.write('rt-edit.csv', (b'\xef\xbb\xbf' if bom else b'') +
                           data.encode('utf-8'))
                r = self.ok('contacts', 'import', self.path('rt-edit.csv'))
                self.assertRegex(r.out, r'1 rows?, 0 added, 1 updated')
                after = self.contacts()
                self.assertEqual(len(after), len(before))
                dubois = [c for c in after if c['party_ref'] == 'C002']
                self.assertEqual(len(dubois), 1)
                old = [c for c in before if c['party_ref'] == 'C002'][0]
                self.assertEqual(dubois[0], dict(old, function=newfn,
                                                 note='Livraison le mardi, "quai 2"'))
                self.assertEqual([c for c in after if c['party_ref'] != 'C002'],
                                 [c for c in before if c['party_ref'] != 'C002'])

    def test_roundtrip_unchanged_export_keeps_phones(self):
        # exported phones are written '+33..., a re-import of the untouched
        # file must give the same contacts back
        before = self.contacts('--party', 'C001')
        f = self.export('csv', 'c001.csv', '--party', 'C001')
        r = self.run_postier('contacts', 'import', f)
        self.assertEqual(r.rc, 0, 'exported file not importable:\n%r' % r)
        self.assertRegex(r.out, r'3 rows, 0 added, 0 updated, 3 unchanged')
        self.assertEqual(self.contacts('--party', 'C001'), before)

    def test_roundtrip_through_xlsx_values(self):
        # what openpyxl reads back from the XLSX, written as CSV, re-imports
        ws = self.load_xlsx(self.export('xlsx', 'c002.xlsx', '--party', 'C002'))
        rows = []
        for r in ws.iter_rows(values_only=True):
            rows.append(['' if v is None else v.date().isoformat()
                         if isinstance(v, datetime.datetime) else str(v) for v in r])
        rows[1][e2e.CONTACT_KEYS.index('department')] = 'Boutique de Lyon'
        s = io.StringIO()
        csv.writer(s, lineterminator='\r\n').writerows(rows)
        f = self.write('from-xlsx.csv', s.getvalue())
        before = self.contacts('--party', 'C002')
        r = self.ok('contacts', 'import', f)
        self.assertRegex(r.out, r'1 rows?, 0 added, 1 updated')
        self.assertEqual(self.contacts('--party', 'C002'),
                         [dict(before[0], department='Boutique de Lyon')])


if __name__ == '__main__':
    e2e.main()
