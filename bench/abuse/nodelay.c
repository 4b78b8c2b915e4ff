// LD_PRELOAD shim: sets TCP_NODELAY on every accepted TCP socket, to see the chat demo's
// latencies without Nagle's algorithm (axum::serve does not set it; the demo does not either).
//   cc -shared -fPIC -O2 -o nodelay.so nodelay.c -ldl
//   LD_PRELOAD=$PWD/nodelay.so target/release/examples/chat
// run.sh builds and uses it with NODELAY=1.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd) {
    if (fd >= 0) {
        int one = 1;
        // Fails harmlessly on a socket that is not TCP.
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    int s = real(fd, addr, len);
    nodelay(s);
    return s;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    int s = real(fd, addr, len, flags);
    nodelay(s);
    return s;
}
