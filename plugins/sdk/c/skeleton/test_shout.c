/* cc test_shout.c shout.c -o test_shout && ./test_shout */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shout.h"

int main(void) {
  char *s = shout("quiet dog", 9);
  assert(strcmp(s, "QUIET DOG") == 0);
  free(s);
  s = shout("", 0);
  assert(strcmp(s, "") == 0);
  free(s);
  puts("2 tests passed");
  return 0;
}
