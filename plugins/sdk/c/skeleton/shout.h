/* The UDF's logic, plain C: tested natively by test_shout.c. */
#include <stddef.h>

/* `text[0..len]` upper-cased, as a malloc'd, NUL-terminated string. */
char *shout(const char *text, size_t len);
