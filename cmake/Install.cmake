# `cmake --install` puts headers, the library and a package config in place, so that another
# project can `find_package(outbox)` and link `outbox::outbox`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS outbox outbox_testing EXPORT outboxTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/outbox DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(OUTBOX_BUILD_CLI)
  install(TARGETS outbox_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(EXPORT outboxTargets NAMESPACE outbox:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/outbox)
configure_package_config_file(cmake/outboxConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/outboxConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/outbox)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/outboxConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/outboxConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/outboxConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/outbox)
