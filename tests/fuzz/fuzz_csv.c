/* libFuzzer target: the delimited-file reader (src/csv/csvread.c) on any
 * bytes: encoding detection (UTF-8, UTF-8 with BOM, Windows-1252),
 * separator detection, quoting, CR/LF, every row read to the end.  The
 * first byte may put the header line of one of the two contact layouts
 * (canonical, seed-004 in UTF-8 or Windows-1252) or a BOM in front, so
 * that the rows are read as they would be in a real import. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv/csvread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const prefixes[] = {
    "",
    "\xef\xbb\xbf",
    "ref;kind;first_name;last_name;company;emails;phones;flags\n",
    "R\xc3\xa9" "f\xc3\xa9rence;Libell\xc3\xa9 membre;D\xc3\xa9nomination;Mail;Tel;Type\r\n",
    "R\xe9" "f\xe9rence;Libell\xe9 membre;D\xe9nomination;Mail;Tel;Type\r\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pre;
    size_t npre, i;
    char *text;
    struct csvr *r = NULL;
    const struct csvr_row *row;
    struct err e = {0};

    if (size < 1)
        return 0;
    pre = prefixes[data[0] % (sizeof prefixes / sizeof prefixes[0])];
    npre = strlen(pre);
    text = malloc(npre + size - 1 + 1);
    if (!text)
        return 0;
    memcpy(text, pre, npre);
    memcpy(text + npre, data + 1, size - 1);
    if (csvr_open_mem("fuzz.csv", text, npre + size - 1, &r, &e) == 0) {
        (void)csvr_separator(r);
        (void)csvr_encoding(r);
        for (i = 0; i < csvr_header(r)->nfields; i++)
            (void)strlen(csvr_header(r)->fields[i]);
        while (csvr_next(r, &row, &e) == 1)
            for (i = 0; i < row->nfields; i++)
                (void)strlen(row->fields[i]);
        csvr_free(r);
    }
    free(text);
    return 0;
}
