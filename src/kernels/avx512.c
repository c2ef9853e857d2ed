/* avx512.c: placeholder while the kernels are written */
#include "kernels.h"
void nb__kernels_fill_avx512(nb__kernels *k) { k->name = "avx512"; }
