# CPack: one Debian package, hierbert_VERSION_ARCH.deb (ops/package.sh).
# Its dependencies are what dpkg-shlibdeps finds the three programs linked
# against - the runtime libraries (libzmq5, libopenblas0-openmp, liblmdb0,
# ...), never a -dev package - plus systemd for the units' helpers.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hierbert)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "hierbert maintainers <hierbert@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "hierarchical BERT document classifiers trained on CPU clusters")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "hierbert fine-tunes BERT on the chunks of long documents, stores each\n chunk's [CLS] vector per document in LMDB and trains an LSTM over them.\n A coordinator daemon shards the work over worker daemons (ZeroMQ);\n the hierbert CLI submits, watches and exports jobs.")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# the OpenMP OpenBLAS: its threads share our OpenMP pool (README "Threads")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, libopenblas0-openmp")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/ops/debian/postinst;${PROJECT_SOURCE_DIR}/ops/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
