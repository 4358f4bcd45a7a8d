# tests/s3emu/s3emu.mk: s3-emu, the S3 emulator (ListObjectsV2, GetObject,
# SigV4 verified on every request) behind the feed mode's s3:// tests.
# s3_sigv4.c is also linked by unit/test_annexcloud_sigv4 (unit/annexcloud.mk).
noinst_PROGRAMS += s3emu/s3-emu
s3emu_s3_emu_SOURCES = s3emu/s3_emu.c s3emu/s3_sigv4.c s3emu/s3_sigv4.h
s3emu_s3_emu_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS)
s3emu_s3_emu_LDADD = $(MHD_LIBS) $(CRYPTO_LIBS) $(PTHREAD_LIBS)
