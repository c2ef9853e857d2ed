/* avx2.c: placeholder while the kernels are written */
#include "kernels.h"
void nb__kernels_fill_avx2(nb__kernels *k) { k->name = "avx2"; }
