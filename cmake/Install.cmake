# `cmake --install` puts headers, the libraries and a package config with components in place:
#   find_package(outbox)                      every component this build has; link outbox::outbox
#   find_package(outbox COMPONENTS sqlite)    outbox::core and outbox::sqlite, needing only SQLite
# Each library has an export set of its own, so a component's targets (and the C client they
# link) are loaded only when that component is asked for.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(OUTBOX_COMPONENTS core)
foreach(backend sqlite postgres mongodb kafka redis rabbitmq nats webhook)
  if(TARGET outbox_${backend})
    list(APPEND OUTBOX_COMPONENTS ${backend})
  endif()
endforeach()
list(APPEND OUTBOX_COMPONENTS testing outbox)

foreach(component ${OUTBOX_COMPONENTS})
  set(target outbox_${component})
  if(component STREQUAL "outbox")
    set(target outbox)
  endif()
  install(TARGETS ${target} EXPORT outbox_${component}_targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT outbox_${component}_targets NAMESPACE outbox:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/outbox)
endforeach()
install(DIRECTORY include/outbox DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(OUTBOX_BUILD_CLI)
  install(TARGETS outbox_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
configure_package_config_file(cmake/outboxConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/outboxConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/outbox)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/outboxConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/outboxConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/outboxConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/outbox)
