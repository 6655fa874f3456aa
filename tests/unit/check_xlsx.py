#!/usr/bin/python3
"""Checks the workbook test_export.c writes (test_xlsx_file) with openpyxl,
turning every openpyxl warning into an error: SPEC §7 wants files that open
without warnings.  The expected cells below mirror xlsx_rows[] in
test_export.c; change both together.  Usage: check_xlsx.py FILE.xlsx"""
import datetime
import sys
import warnings


def main(path):
    warnings.simplefilter('error')
    import openpyxl

    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames and len(wb.sheetnames) == 1, wb.sheetnames
    ws = wb.active

    header = [c.value for c in ws[1]]
    assert header == ['Name', 'Count', 'Born', 'Seen'], header
    for c in ws[1]:
        assert c.font.b, f'{c.coordinate} is not bold'
    assert ws.freeze_panes == 'A2', ws.freeze_panes
    assert ws.auto_filter.ref == 'A1:D4', ws.auto_filter.ref
    assert ws.max_row == 4 and ws.max_column == 4, (ws.max_row, ws.max_column)

    # Row 2: text, int, date, date-time (offset dropped: wall time kept).
    assert ws['A2'].value == 'Émilie Dupont', ws['A2'].value
    assert ws['A2'].data_type == 's'
    assert isinstance(ws['B2'].value, (int, float)) and ws['B2'].value == 42
    assert ws['C2'].is_date and ws['C2'].value == datetime.datetime(1990, 2, 28)
    assert ws['C2'].number_format == 'dd/mm/yyyy', ws['C2'].number_format
    want = datetime.datetime(2024, 3, 1, 10, 20, 30, 500000)
    got = ws['D2'].value
    assert ws['D2'].is_date and abs((got - want).total_seconds()) < 0.001, got
    assert ws['D2'].number_format == 'dd/mm/yyyy hh:mm:ss', ws['D2'].number_format

    # Row 3: a formula-looking string stays a string; a negative int.
    assert ws['A3'].value == '=1+1' and ws['A3'].data_type == 's', ws['A3'].value
    assert ws['B3'].value == -7
    assert ws['C3'].value is None
    assert ws['D3'].value == datetime.datetime(2024, 12, 31, 23, 59, 59)

    # Row 4: empty values are blank cells; a date after the 1900 leap bug.
    assert ws['A4'].value is None and ws['B4'].value is None
    assert ws['C4'].value == datetime.datetime(2000, 1, 1)

    # Widths follow the content: the name column is wider than the default.
    assert ws.column_dimensions['A'].width >= len('Émilie Dupont'), \
        ws.column_dimensions['A'].width
    assert ws.column_dimensions['C'].width >= 10
    print('# check_xlsx: ok')
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
