#!/usr/bin/python3
"""End-to-end: `[run] timezone` (SPEC §4, §8).  Every local time is read in
the configured zone, whatever the process's TZ: "today" for validity dates
and `run`, SMS quiet hours and French public holidays, campaign `--at`
times and the messages' `Date:` header; history times stay UTC with `Z`.

postier runs with TZ=UTC (a server's usual zone) under `faketime` (the
wrapper reads the timestamp in its own TZ, UTC here), with
`[run] timezone = Europe/Paris`: today an SMS went out at 20:36 Paris time
because quiet hours were read in UTC."""
import email
import email.policy
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import test_campaign  # noqa: E402

SYSTEM_TZ = 'UTC'
ZONE = 'Europe/Paris'

PARTIES = "ref,kind,name,email\nC1,client,Boulangerie Lefèvre,accueil@lefevre.fr\n"
# Nouveau starts on the first of January, Ancien ended on the last of December
CONTACTS = ("party_ref,last_name,first_name,email,valid_from,valid_until,flags\n"
            "C1,Nouveau,Anne,nouveau@lefevre.fr,2027-01-01,,invoice\n"
            "C1,Ancien,Paul,ancien@lefevre.fr,,2026-12-31,invoice\n"
            "C1,Martin,Élodie,compta@lefevre.fr,,,invoice\n")
INVOICES = "ref,party_ref,amount,due_date\nF1,C1,120.50,2027-01-31\n"


def faked_env(base, when):
    e = dict(base)
    if when:
        e['FAKETIME_DONT_FAKE_MONOTONIC'] = '1'
        # the ASan build: libfaketime is preloaded before the ASan runtime
        e['ASAN_OPTIONS'] = (e.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0').lstrip(':')
    return e


def local(msg):
    """The Date: header as 'Mon 2026-12-07 13h +0100' (the wall clock
    and the offset it was written with)."""
    return msg['Date'].datetime.strftime('%a %Y-%m-%d %Hh %z')


class ZoneCase(e2e.PostierCase):
    """postier with TZ=UTC; run_at() under faketime (a UTC timestamp)."""

    zone = ZONE

    def postier_env(self, env=None):
        e = {'TZ': SYSTEM_TZ}
        e.update(env or {})
        return super().postier_env(e)

    def run_at(self, when, *args, rc=0):
        argv = ['faketime', when] + self.postier_argv(*args)
        p = subprocess.run(argv, cwd=self.tmp, env=faked_env(self.postier_env(), when),
                           input=b'', stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=e2e.TIMEOUT)
        r = e2e.Result(['@' + when] + [str(a) for a in args], p.returncode,
                       p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace'))
        if rc is not None:
            self.assertEqual(r.rc, rc, 'expected exit %r:\n%r' % (rc, r))
        return r


class RunZone(ZoneCase):
    def setUp(self):
        super().setUp()
        self.ok('parties', 'import', self.write('parties.csv', PARTIES))
        self.ok('contacts', 'import', self.write('contacts.csv', CONTACTS))
        self.ok('documents', 'import', self.write('inv.csv', INVOICES), '--type', 'invoice')
        self.append_config('\n[store]\ntemplates = %s\n[sender]\nname = Cabinet Durand\n'
                           'email = contact@cabinet-durand.fr\n[run]\nfallback = none\n'
                           % e2e.TEMPLATES)
        if self.zone:
            self.append_config('timezone = %s\n' % self.zone)
        self.maildir = self.path('spool', 'sent')

    def messages(self):
        out = {}
        for p in sorted(glob.glob(os.path.join(self.maildir, 'new', '*'))):
            with open(p, 'rb') as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            out[msg['To'].addresses[0].addr_spec] = msg
        return out

    def test_new_year_in_paris_at_23_30_utc(self):
        # 23:30 UTC on 31 December is 00:30 on 1 January in Paris
        r = self.run_at('2026-12-31 23:30:00', 'contacts', 'list', '--format', 'json')
        names = sorted(c['last_name'] for c in json.loads(r.out))
        self.assertEqual(names, ['Martin', 'Nouveau'], r)
        r = self.run_at('2026-12-31 23:30:00', 'run')
        self.run_date = '2027-01-01'
        self.assertEqual(self.run_summary(r)['sent'], 2, r)
        self.assertEqual(sorted(self.messages()), ['compta@lefevre.fr', 'nouveau@lefevre.fr'])
        # history times stay UTC, with an explicit Z
        sent = [h for h in self.history_rows() if h['event'] == 'sent']
        self.assertEqual(len(sent), 2, sent)
        for h in sent:
            self.assertRegex(h['at'], r'^2026-12-31T23:3\d:\d\dZ$', h)
        # ended now: yesterday (in Paris) was the last day of activity
        (martin,) = [c['id'] for c in self.all_contacts() if c['last_name'] == 'Martin']
        r = self.run_at('2026-12-31 23:30:00', 'contacts', 'end', martin)
        self.assertIn('contact %d ends on 2026-12-31' % martin, r.out, r)

    def test_date_header_in_zone(self):
        self.run_at('2026-12-07 12:00:00', 'run', '--date', '2026-12-07')
        msgs = self.messages()
        self.assertEqual(sorted(msgs), ['ancien@lefevre.fr', 'compta@lefevre.fr'])
        for m in msgs.values():
            self.assertEqual(local(m), 'Mon 2026-12-07 13h +0100', m['Date'])
        sent = [h for h in self.history_rows() if h['event'] == 'sent']
        for h in sent:
            self.assertRegex(h['at'], r'^2026-12-07T12:0\d:\d\dZ$', h)

    def test_date_header_in_summer(self):
        self.run_at('2026-07-07 12:00:00', 'run', '--date', '2026-12-07')
        msgs = self.messages()
        self.assertEqual(len(msgs), 2, msgs)
        for m in msgs.values():
            self.assertEqual(local(m), 'Tue 2026-07-07 14h +0200', m['Date'])


class RunSystemZone(RunZone):
    """No [run] timezone: the system's zone (here TZ=UTC) as before."""
    zone = None

    def test_new_year_in_paris_at_23_30_utc(self):
        r = self.run_at('2026-12-31 23:30:00', 'run')
        self.run_date = '2026-12-31'
        self.assertEqual(self.run_summary(r)['sent'], 2, r)
        self.assertEqual(sorted(self.messages()), ['ancien@lefevre.fr', 'compta@lefevre.fr'])

    def test_date_header_in_zone(self):
        self.run_at('2026-12-07 12:00:00', 'run', '--date', '2026-12-07')
        for m in self.messages().values():
            self.assertEqual(local(m), 'Mon 2026-12-07 12h +0000', m['Date'])

    def test_date_header_in_summer(self):
        pass


class BadZone(ZoneCase):
    def test_unknown_zone_names_file_and_line(self):
        for bad in ('Europe/Pariss', '../../../etc/passwd', '/etc/localtime', 'Paris',
                    'Europe', 'Europe/Paris/'):
            self.write_config('; test\n[run]\nfallback = main\ntimezone = %s\n' % bad)
            cfg = self.config
            for args in (['types', 'list'], ['run']):
                r = self.fails(*args, contains=[cfg, 'timezone'])
                self.assertRegex(r.err, r'%s:4\b' % cfg, r)
                self.assertIn(bad, r.err)
            self.assertEqual(self.sql('SELECT count(*) FROM history'), [(0,)])

    def test_known_zones_accepted(self):
        for good in ('Europe/Paris', 'UTC', 'America/Guadeloupe', 'Pacific/Noumea', ''):
            self.write_config('[run]\ntimezone = %s\n' % good)
            self.ok('types', 'list')


class CampaignZone(test_campaign.CampaignCase, ZoneCase):
    """Campaigns: quiet hours, holidays and --at in [run] timezone."""

    def configure(self):
        super().configure()
        self.append_config('[run]\ntimezone = %s\n' % ZONE)

    # CampaignCase runs with TZ=Europe/Paris: here the system is in UTC
    def run_postier(self, *args, **kw):
        return e2e.PostierCase.run_postier(self, *args, **kw)

    def env(self, fake=None):
        return faked_env(self.postier_env(), fake)

    def test_quiet_hours_read_in_zone(self):
        self.book(test_campaign.SMS_BOOK)
        gw = self.start_gw()
        self.new('sms-promo', 'smspromo', 'sms', 'commercial')
        # Monday 19:36 UTC is 20:36 in Paris: quiet, held back
        r = self.run_at('2026-12-07 19:36:00', 'campaign', 'launch', 'sms-promo', '--yes',
                        rc=None)
        self.assertIn(r.rc, (0, 1, 75), r)
        self.assertEqual(gw.requests(), [])
        self.assertEqual(self.counts('sms-promo')['sent'], 0)
        # Tuesday 07:30 UTC is 08:30 in Paris: no longer quiet
        self.run_at('2026-12-08 07:30:00', 'run', rc=None)
        self.assertEqual(sorted(q['to'] for q in gw.requests()),
                         sorted([test_campaign.MOBILE['Martin'], test_campaign.MOBILE['Moreau']]))
        sent = [h for h in self.camp_history('sms-promo') if h['event'] == 'sent']
        for h in sent:
            self.assertRegex(h['at'], r'^2026-12-08T07:3\d:\d\dZ$', h)

    def test_public_holiday_read_in_zone(self):
        self.book(test_campaign.SMS_BOOK)
        gw = self.start_gw()
        # only public holidays are quiet
        self.append_config('[sms]\nquiet_hours =\nquiet_days =\n')
        self.new('sms-promo', 'smspromo', 'sms', 'commercial')
        # 31 December 23:30 UTC is New Year's Day in Paris
        self.run_at('2026-12-31 23:30:00', 'campaign', 'launch', 'sms-promo', '--yes', rc=None)
        self.assertEqual(gw.requests(), [])
        # 1 January 23:30 UTC is 2 January in Paris
        self.run_at('2027-01-01 23:30:00', 'run', rc=None)
        self.assertEqual(len(gw.requests()), 2)

    def test_at_read_in_zone(self):
        self.numbered_book(3)
        peer = self.start_peer()
        self.new('relance', 'info', 'email', 'service')
        r = self.run_at('2026-12-08 07:00:00', 'campaign', 'launch', 'relance', '--yes',
                        '--at', '2026-12-08 09:00')
        self.assertIn('campaign relance scheduled for 2026-12-08 09:00', r.out)
        # 07:50 UTC is 08:50 in Paris: not yet
        self.run_at('2026-12-08 07:50:00', 'run')
        self.assertEqual(peer.messages(), [])
        self.assertEqual(self.counts('relance')['state'], 'scheduled')
        # 08:10 UTC is 09:10 in Paris: due
        self.run_at('2026-12-08 08:10:00', 'run')
        self.assertEqual(len(peer.messages()), 3)
        for m in peer.messages():
            msg = email.message_from_bytes(m['data'], policy=email.policy.default)
            self.assertEqual(local(msg), 'Tue 2026-12-08 09h +0100', msg['Date'])


if __name__ == '__main__':
    e2e.main()
