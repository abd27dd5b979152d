/* greenshim's C API. */
#ifndef GREEN_GREEN_H
#define GREEN_GREEN_H

#ifdef __cplusplus
extern "C" {
#endif

/* Turns the hooks on (gevent's monkey.patch_all()); 0 on success, -1 on failure. */
int green_patch_all(void);

#ifdef __cplusplus
}
#endif

#endif
