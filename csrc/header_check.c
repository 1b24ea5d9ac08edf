/* header_check.c — compiled as C99 with -pedantic -Werror so that nashmd.h
 * stays a C header (CMake target nashmd_header_c99). */
#include "nashmd.h"

int nm_header_check(void);
int nm_header_check(void) { return (int)sizeof(nm_device) + NM_ERR_ARG; }
