#include "data/h5_common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
/* The error-printing setting is per thread in thread-safe HDF5 builds. */
static _Thread_local int h5_silenced;
static _Thread_local char h5_detail[512];

void vc_h5i_lock(void) {
    pthread_mutex_lock(&h5_mutex);
    if (!h5_silenced) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        h5_silenced = 1;
    }
}

void vc_h5i_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

static herr_t keep_deepest(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    (void)data;
    if (e->desc && e->desc[0]) snprintf(h5_detail, sizeof h5_detail, "%s", e->desc);
    return 0;
}

const char *vc_h5i_detail(void) {
    h5_detail[0] = '\0';
    /* Walking downward visits the API call first and the innermost cause last. */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_deepest, NULL);
    H5Eclear2(H5E_DEFAULT);
    return h5_detail;
}

hid_t vc_h5i_close(hid_t id) {
    if (id < 0) return H5I_INVALID_HID;
    /* Every HDF5 API call clears the error stack, so keep a pending error's
     * stack aside: cleanup must not erase the reason reported afterwards. */
    hid_t saved = H5Eget_current_stack();
    if (H5Iis_valid(id) > 0) {
        switch (H5Iget_type(id)) {
        case H5I_FILE: H5Fclose(id); break;
        case H5I_GROUP: H5Gclose(id); break;
        case H5I_DATASET: H5Dclose(id); break;
        case H5I_DATATYPE: H5Tclose(id); break;
        case H5I_DATASPACE: H5Sclose(id); break;
        case H5I_ATTR: H5Aclose(id); break;
        case H5I_GENPROP_LST: H5Pclose(id); break;
        default: break;
        }
    }
    if (saved >= 0) H5Eset_current_stack(saved);
    return H5I_INVALID_HID;
}

hid_t vc_h5i_half_type(void) {
    /* The same construction h5py uses for numpy float16, so both agree. */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int vc_h5i_is_half(hid_t t) {
    if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 2) return 0;
    size_t spos, epos, esize, mpos, msize;
    if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0) return 0;
    return spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(t) == 15 &&
           H5Tget_offset(t) == 0;
}
