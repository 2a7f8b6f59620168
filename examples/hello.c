/* hello.c - the smallest libananke program: write a file, make it durable,
 * read its size back. Build: cc hello.c $(pkg-config --cflags --libs ananke) */
#include <ananke.h>
#include <stdio.h>

int main(void)
{
	if (ank_mount(NULL) < 0) { /* $ANANKE_SOCKET, else ./ananke.sock */
		perror("ank_mount");
		return 1;
	}
	int fd = ank_open("/hello.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || ank_write(fd, "hello\n", 6) != 6 || ank_fsync(fd) < 0) {
		perror("/hello.txt");
		return 1;
	}
	ank_close(fd);
	struct stat st;
	if (ank_stat("/hello.txt", &st) == 0)
		printf("/hello.txt: %lld bytes\n", (long long)st.st_size);
	return ank_unmount() < 0;
}
