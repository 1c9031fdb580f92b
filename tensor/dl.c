#include "dl.h"

#include <dlfcn.h>
#include <string.h>

vc_status vc_dl_load(const char *what, const char *const *names, int n_names, const char *hint, const vc_dl_sym *syms,
                     int n_syms) {
    void *lib = NULL;
    for (int i = 0; i < n_names && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        return vc_fail(VC_ERR_UNSUPPORTED, "cannot load %s (%s%s): %.200s", what, names[0], hint, e ? e : "not found");
    }
    for (int i = 0; i < n_syms; i++) {
        void *p = dlsym(lib, syms[i].name);
        if (!p) {
            const char *so = strstr(names[0], ".so");
            int len = so ? (int)(so - names[0]) : (int)strlen(names[0]);
            return vc_fail(VC_ERR_UNSUPPORTED, "%.*s lacks %s", len, names[0], syms[i].name);
        }
        memcpy(syms[i].slot, &p, sizeof p); /* a data pointer into a function pointer, as dlsym's manual does */
    }
    return VC_OK;
}
