/* sort.h: comparison functions for qsort and bsearch, shared by every layer.
 * Owns: the ascending order of int64 values (vc_cmp_i64). It compares the first int64 of
 * each element, so records that start with an int64 key (pairs, triples) sort by that key.
 * Not here: sorts with ties broken by a second key (write those beside their data). */
#ifndef VC_SORT_H
#define VC_SORT_H

int vc_cmp_i64(const void *a, const void *b);

#endif
