/* temp_tree.h — rm -r of a unit test's own temporary tree (made with g_dir_make_tmp)
 *
 * Header-only: a test lists it in its Makefile.am SOURCES and includes it. Symlinks are removed, never followed;
 * a folder's mode is reset before it is emptied, so a test that made one read-only can still clean up.
 */

#ifndef P2PLINK_TEST_TEMP_TREE_H
#define P2PLINK_TEST_TEMP_TREE_H

#include <glib.h>
#include <glib/gstdio.h>

static inline void remove_tree(const char *path) {
	GDir *dir = g_dir_open(path, 0, NULL);
	if(dir != NULL) {
		const char *name;
		while((name = g_dir_read_name(dir)) != NULL) {
			char *child = g_build_filename(path, name, NULL);
			if(g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK)) {
				g_chmod(child, 0700);
				remove_tree(child);
			} else {
				g_unlink(child);
			}
			g_free(child);
		}
		g_dir_close(dir);
	}
	g_rmdir(path);
}

#endif
