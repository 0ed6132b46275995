/* /init of build/guest/bare-initramfs.cpio: powers the VM off at once.
 * bench/bare-boot.sh boots it to measure the kernel's own boot time, the
 * anchor every lcvm start-up figure is compared with. It mounts nothing and
 * prints nothing, so its cost is one exec. Built static by guest/build.sh. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* reboot() only returns on error (not PID 1): nothing else to do. */
	return 1;
}
