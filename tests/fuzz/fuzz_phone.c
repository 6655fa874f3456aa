/* libFuzzer target: the phone normaliser (validate_phones).  What it
 * accepts must be E.164 ('+' then 8 to 15 digits, ';'-joined) and must
 * normalise again to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contacts/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct buf a, b;
    struct err e = {0};

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    buf_init(&a, 0);
    buf_init(&b, 0);
    if (validate_phones(s, "33", &a, &e) == 0) {
        const char *p = buf_str(&a);
        size_t digits = 0;

        for (; *p; p++) {
            if (*p == '+' && digits == 0 && (p == buf_str(&a) || p[-1] == ';'))
                continue;
            if (*p >= '0' && *p <= '9') {
                digits++;
                continue;
            }
            if (*p == ';' && digits >= 8 && digits <= 15) {
                digits = 0;
                continue;
            }
            abort(); /* not E.164 */
        }
        if (a.len && (digits < 8 || digits > 15))
            abort();
        if (validate_phones(buf_str(&a), "33", &b, &e) != 0 || strcmp(buf_str(&a), buf_str(&b)))
            abort(); /* not stable */
    }
    buf_release(&a);
    buf_release(&b);
    free(s);
    return 0;
}
