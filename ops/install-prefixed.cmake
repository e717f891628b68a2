# Run by `cmake --install` (ops/CMakeLists.txt): the files whose text or
# place follow the install prefix, decided at install time. HB_OPS_SRC,
# HB_OPS_BIN: ops/ and its build directory.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(sysconf /etc)
else()
  set(sysconf "${prefix}/etc")
endif()
# the names the units' .in templates use
set(CMAKE_INSTALL_FULL_BINDIR "${prefix}/bin")
set(CMAKE_INSTALL_FULL_DOCDIR "${prefix}/share/doc/hierbert")
set(CMAKE_INSTALL_FULL_SYSCONFDIR "${sysconf}")
foreach(unit hierbert-coordinator.service hierbert-worker@.service)
  configure_file("${HB_OPS_SRC}/systemd/${unit}.in" "${HB_OPS_BIN}/systemd/${unit}" @ONLY)
  file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE FILES "${HB_OPS_BIN}/systemd/${unit}")
endforeach()
file(INSTALL DESTINATION "${sysconf}/hierbert" TYPE FILE RENAME hierbert.conf FILES "${HB_OPS_SRC}/hierbert.conf.example")
