/* libFuzzer target: the e-mail validator (validate_emails) and the ASCII
 * (punycode) form sent on the wire.  What it accepts must validate again
 * to itself, and every accepted address must convert. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contacts/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct buf a, b, w;
    struct err e = {0};

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    buf_init(&a, 0);
    buf_init(&b, 0);
    buf_init(&w, 0);
    if (validate_emails(s, &a, &e) == 0 && a.len) {
        char *list = strdup(buf_str(&a)), *save = NULL, *one;

        if (validate_emails(list, &b, &e) != 0 || strcmp(buf_str(&a), buf_str(&b)))
            abort(); /* not stable */
        for (one = strtok_r(list, ";", &save); one; one = strtok_r(NULL, ";", &save)) {
            buf_reset(&w);
            if (validate_email_ascii(one, &w, &e) != 0)
                abort(); /* accepted but cannot be sent */
        }
        free(list);
    }
    buf_release(&a);
    buf_release(&b);
    buf_release(&w);
    free(s);
    return 0;
}
