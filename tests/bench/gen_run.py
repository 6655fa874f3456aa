#!/usr/bin/python3
"""Writes the nightly-run benchmark book: P parties with 4 contacts each
(two flagged for invoices, one for orders, one ended), and D invoices spread
over the parties, as CSV files in a folder."""
import os
import random
import sys

parties, docs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(7)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "parties.csv"), "w") as f:
    f.write("ref,kind,name,email,locale\n")
    for i in range(parties):
        f.write(f"P{i:06d},client,Société Exemple {i},accueil{i}@exemple.fr,"
                f"{'en' if i % 10 == 0 else 'fr'}\n")
with open(os.path.join(out, "contacts.csv"), "w") as f:
    f.write("party_ref,civility,last_name,first_name,email,flags,consents,valid_until\n")
    for i in range(parties):
        f.write(f"P{i:06d},Mme,Martin,Élodie,compta{i}@exemple.fr,invoice|payment_reminder,esign,\n")
        f.write(f"P{i:06d},M.,Lefèvre,Jérôme,direction{i}@exemple.fr,invoice|order,,\n")
        f.write(f"P{i:06d},M.,Benali,Karim,atelier{i}@exemple.fr,order|receiver,,\n")
        f.write(f"P{i:06d},Mme,Petit,Claire,ancienne{i}@exemple.fr,invoice,,2024-12-31\n")
with open(os.path.join(out, "invoices.csv"), "w") as f:
    f.write("ref,party_ref,amount,issue_date,due_date,lines\n")
    for d in range(docs):
        p = d % parties
        amount = random.randint(1000, 900000) / 100
        f.write(f'F{d:07d},P{p:06d},{amount:.2f},2026-11-20,2026-12-20,'
                f'"[{{""label"": ""Prestation {d}"", ""amount"": ""{amount:.2f}""}}]"\n')
