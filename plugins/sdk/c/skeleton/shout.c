#include "shout.h"

#include <ctype.h>
#include <stdlib.h>

char *shout(const char *text, size_t len) {
  char *out = malloc(len + 1);
  for (size_t i = 0; i < len; i++) out[i] = (char)toupper((unsigned char)text[i]);
  out[len] = 0;
  return out;
}
