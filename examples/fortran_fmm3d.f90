! A Fortran program written against FMM3D's Laplace interface, linked against kifmm instead:
! lfmm3d_t_c_g (charges -> potentials and gradients at targets) and lfmm3d_s_cd_h (charges and
! dipoles -> Hessians at the sources), checked against the direct routines l3ddirectcg and
! l3ddirectcdh on the first targets. Nothing here is kifmm's: the same source links with FMM3D.
!
!   cc -O3 -fopenmp -I. -c examples/fmm3d_lib.c -o fmm3d_lib.o
!   gfortran -O2 -fopenmp examples/fortran_fmm3d.f90 fmm3d_lib.o -o fortran_fmm3d -lm && ./fortran_fmm3d
program fortran_fmm3d
  implicit none
  integer *8, parameter :: ns = 20000, nt = 10000, ntest = 10
  integer *8 :: i, ier, nd, ntst
  real *8 :: eps, thresh, err, ref
  real *8, allocatable :: source(:,:), targ(:,:), charge(:), dipvec(:,:)
  real *8, allocatable :: pottarg(:), gradtarg(:,:), pot(:), grad(:,:), hess(:,:)
  real *8 :: potex(ntest), gradex(3,ntest), hessex(6,ntest), pex(ntest), gex(3,ntest)

  allocate(source(3,ns), targ(3,nt), charge(ns), dipvec(3,ns))
  allocate(pottarg(nt), gradtarg(3,nt), pot(ns), grad(3,ns), hess(6,ns))
  call random_number(source)
  call random_number(targ)
  call random_number(charge)
  call random_number(dipvec)
  charge = charge - 0.5d0

  eps = 0.5d-6
  call lfmm3d_t_c_g(eps, ns, source, charge, nt, targ, pottarg, gradtarg, ier)
  if (ier /= 0) stop 'lfmm3d_t_c_g failed'
  nd = 1
  ntst = ntest
  thresh = 1d-15
  pex = 0
  gex = 0
  call l3ddirectcg(nd, source, charge, ns, targ, ntst, pex, gex, thresh)
  err = sum((pottarg(1:ntest) - pex)**2) + sum((gradtarg(:,1:ntest) - gex)**2)
  ref = sum(pex**2) + sum(gex**2)
  write(*,'(a,es10.3)') 'lfmm3d_t_c_g: relative error on 10 targets ', sqrt(err / ref)
  if (sqrt(err / ref) > eps) stop 'lfmm3d_t_c_g: error above eps'

  eps = 0.5d-3
  call lfmm3d_s_cd_h(eps, ns, source, charge, dipvec, pot, grad, hess, ier)
  if (ier /= 0) stop 'lfmm3d_s_cd_h failed'
  potex = 0
  gradex = 0
  hessex = 0
  call l3ddirectcdh(nd, source, charge, dipvec, ns, source, ntst, potex, gradex, hessex, thresh)
  err = sum((pot(1:ntest) - potex)**2) + sum((grad(:,1:ntest) - gradex)**2) + sum((hess(:,1:ntest) - hessex)**2)
  ref = sum(potex**2) + sum(gradex**2) + sum(hessex**2)
  write(*,'(a,es10.3)') 'lfmm3d_s_cd_h: relative error on 10 sources ', sqrt(err / ref)
  if (sqrt(err / ref) > eps) stop 'lfmm3d_s_cd_h: error above eps'
  do i = 1, 1
    write(*,'(a,3es12.4)') 'hessian xx yy zz at source 1: ', hess(1:3,i)
  end do
  write(*,'(a)') 'ok'
  deallocate(source, targ, charge, dipvec, pottarg, gradtarg, pot, grad, hess)
end program fortran_fmm3d
